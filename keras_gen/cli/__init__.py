"""Command lines: ``python train.py`` and the ``keras-gen`` console script.

The only package that parses arguments: one module per command, each with ``main(argv) -> int``.
Parsing needs no TensorFlow (``--help`` answers at once); a command imports the library after its
arguments are read. Bad input ends with one line on stderr naming the problem and the fix, exit 2.
"""

from __future__ import annotations

import importlib
import sys

# command -> (module, function): each module parses its own arguments.
COMMANDS = {
    "train": ("keras_gen.cli.train", "main"),
    "sample": ("keras_gen.cli.sample", "main"),
    "interpolate": ("keras_gen.cli.sample", "interpolate"),
    "export": ("keras_gen.cli.export", "main"),
    "evaluate": ("keras_gen.cli.evaluate", "main"),
    "compare": ("keras_gen.cli.compare", "main"),
    "fid": ("keras_gen.cli.fid", "main"),
    "fid-weights": ("keras_gen.cli.fid_weights", "main"),
    "fit-sampler": ("keras_gen.cli.fit_sampler", "main"),
    "publish": ("keras_gen.cli.publish", "main"),
    "serve": ("keras_gen.cli.serve", "main"),
    "explore": ("keras_gen.cli.explore", "main"),
}


def main(argv=None) -> int:
    """``keras-gen COMMAND ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    known = ", ".join(COMMANDS)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: keras-gen COMMAND [ARGS]  (commands: {known}; keras-gen COMMAND --help)")
        return 0
    if argv[0] not in COMMANDS:
        print(f"keras-gen: error: unknown command {argv[0]!r}; commands: {known}", file=sys.stderr)
        return 2
    module, function = COMMANDS[argv[0]]
    return getattr(importlib.import_module(module), function)(argv[1:], prog=f"keras-gen {argv[0]}")
