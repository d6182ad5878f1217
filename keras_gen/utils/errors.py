"""User-facing errors.

A :class:`UserError` is a problem with what the user asked for (a bad flag, a missing file). The
command-line entry points print its message as one line on stderr and exit with status 2, with no
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import sys


class UserError(Exception):
    """Bad input: the message names the problem and the fix."""


class TrainingDiverged(UserError):
    """Losses or weights became NaN or infinite: training stops, nothing broken is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; ``run_dir`` is the run to resume (its checkpoints are intact)."""

    def __init__(self, run_dir):
        super().__init__(str(run_dir))
        self.run_dir = run_dir


@contextlib.contextmanager
def exit_on_user_error(prog: str):
    """Turn a :class:`UserError` into ``prog: error: ...`` on stderr and exit status 2."""
    try:
        yield
    except UserError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
