"""Progress of long work on stderr: a live bar (count, rate, time left) on a terminal, one final line.

Built on tqdm (a dependency of tensorflow-datasets, and declared by this package): on a terminal
it redraws one line in place; when stderr is not a terminal (a log file, CI, a pipe), or after
:func:`set_quiet` (``--quiet``), only the final line is written, so logs hold one line per phase
instead of thousands of carriage returns. Every phase that can take more than a few seconds uses
it: feature passes, sampling, the domain classifier's training.
"""

from __future__ import annotations

import sys
import time

_QUIET = False


def set_quiet(quiet: bool = True) -> None:
    """Only final lines from now on, in this process (the commands' ``--quiet``)."""
    global _QUIET
    _QUIET = bool(quiet)


def duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """``with Progress(total, "features of mnist:test") as bar: ... bar.update(n)``.

    The final line, ``"<what>: 10,000 images in 13 min 40 s (12.2 images/s)"``, is written when
    the block ends without an error, bar or no bar."""

    def __init__(self, total: int, what: str, *, unit: str = "images", quiet: bool | None = None, stream=None):
        self.total, self.what, self.unit = int(total), what, unit
        self.stream = stream if stream is not None else sys.stderr
        quiet = _QUIET if quiet is None else quiet
        live = not quiet and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.count, self._start = 0, time.perf_counter()
        self._bar = None
        if live:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=what, unit=f" {unit}", file=self.stream, leave=False,
                             dynamic_ncols=True, smoothing=0.1)

    def update(self, n: int) -> None:
        self.count += int(n)
        if self._bar is not None:
            self._bar.update(int(n))

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._start

    def final_line(self) -> str:
        rate = self.count / max(self.seconds, 1e-9)
        return f"{self.what}: {self.count:,} {self.unit} in {duration(self.seconds)} ({rate:,.1f} {self.unit}/s)"

    def close(self, *, success: bool = True) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if success:
            print(self.final_line(), file=self.stream, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(success=exc_type is None)
