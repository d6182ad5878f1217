"""What every command line shares: argparse with one-line errors, and value types."""

from __future__ import annotations

import argparse
import contextlib
import sys

from keras_gen.utils.errors import exit_on_user_error
from keras_gen.utils.native import filtered_native_stderr, import_tensorflow


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``prog: error: ...; see --help``), exit 2."""

    def error(self, message):
        print(f"{self.prog}: error: {message}; see {self.prog} --help", file=sys.stderr)
        raise SystemExit(2)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def model_option(text: str) -> tuple[str, int | float | str]:
    """``KEY=VALUE`` of ``--option``: the value as an int, else a float, else the text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    for kind in (int, float):
        try:
            return key.strip(), kind(value)
        except ValueError:
            pass
    return key.strip(), value.strip()



def add_checkpoint_argument(p: argparse.ArgumentParser) -> None:
    """``--checkpoint``: which checkpoint of a run directory a command reads (exports have one)."""
    p.add_argument("--checkpoint", default="latest", help="run directories: latest (default), best or an epoch")


def add_publish_arguments(p: argparse.ArgumentParser) -> None:
    """``--publish`` / ``--no-publish``: whether an export is served (default: if it measures at
    least as well as the served version; keras_gen.export.publish)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--publish", dest="publish", action="store_const", const="always",
                       help="serve the export without measuring it against the served version")
    group.add_argument("--no-publish", dest="publish", action="store_const", const="never",
                       help="export without serving it (models.config keeps the served version)")


@contextlib.contextmanager
def running(prog: str):
    """The body of a command, once its arguments are parsed: TensorFlow is imported with its native
    start-up chatter silenced, and a UserError ends the command with one line and exit status 2."""
    with filtered_native_stderr(), exit_on_user_error(prog):
        import_tensorflow()
        yield
