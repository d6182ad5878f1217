"""Progress of long passes (keras_gen.utils.progress): a live bar on a terminal, one final line
otherwise or with --quiet, nothing final when the pass fails."""

from __future__ import annotations

import fcntl
import io
import os
import re
import struct
import termios
import time

import pytest

from keras_gen.utils.progress import Progress, duration, set_quiet


def test_off_a_terminal_only_the_final_line():
    stream = io.StringIO()
    with Progress(1200, "features of mnist:test", stream=stream) as bar:
        for _ in range(3):
            bar.update(400)
    assert re.fullmatch(r"features of mnist:test: 1,200 images in \d+\.\d s \([\d,]+\.\d images/s\)\n",
                        stream.getvalue()), stream.getvalue()


def read_all(master: int) -> str:
    """Everything written to a pseudo-terminal whose other end is closed: one read may return only
    part of it (it did, on a loaded machine); Linux answers EIO once it is all read."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks).decode()


def test_a_terminal_gets_a_live_bar_and_quiet_silences_it():
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    with os.fdopen(slave, "w") as tty:
        assert tty.isatty()
        with Progress(10, "sampling", stream=tty) as bar:
            for _ in range(10):
                time.sleep(0.15)  # past tqdm's redraw interval (0.1 s): each update is drawn
                bar.update(1)
        set_quiet(True)
        try:
            with Progress(10, "quiet pass", stream=tty) as bar:
                bar.update(10)
        finally:
            set_quiet(False)
    shown = read_all(master)
    assert "sampling:" in shown and "5/10" in shown and "\r" in shown and "images/s" in shown  # redrawn in place
    assert "sampling: 10 images in" in shown  # and the final line
    assert "quiet pass: 10 images in" in shown and "quiet pass:   0%" not in shown and "/10 [" not in \
        shown.split("quiet pass")[1]


def test_a_failed_pass_prints_no_final_line():
    stream = io.StringIO()
    with pytest.raises(RuntimeError):
        with Progress(10, "doomed", stream=stream) as bar:
            bar.update(3)
            raise RuntimeError("stop")
    assert stream.getvalue() == ""


def test_durations_read_as_people_write_them():
    assert [duration(s) for s in (4.25, 42, 185, 3725)] == ["4.2 s", "42 s", "3 min 05 s", "1 h 02 min"]
