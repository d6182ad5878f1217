"""TensorFlow's native (C++) output: kept off the terminal unless ``KERAS_GEN_TF_LOGS=1``."""

from __future__ import annotations

import contextlib
import os
import re
import threading

_imported = False


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence file descriptor 2 (not Python's ``sys.stderr`` object) for the duration.

    TensorFlow 2.21 prints CUDA-probe lines from C++ before absl logging is initialised, which no
    environment variable suppresses; they would bury the one-line errors our commands print.
    Python exceptions raised inside still reach stderr: it is restored before they print.
    Set KERAS_GEN_TF_LOGS=1 to see the native messages.
    """
    if os.environ.get("KERAS_GEN_TF_LOGS"):
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow() -> None:
    """Import TensorFlow once, with its native start-up messages silenced (TFP is imported at its
    first use, :mod:`keras_gen.utils.probability`; its import prints nothing)."""
    global _imported
    if _imported:
        return
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe (and its cuInit line on CPU-only hosts) runs here
    _imported = True


# Native log lines that report an optimisation TensorFlow skipped, not a failure of the run. Seen on
# AVX-512 CPUs: Grappler's remapper cannot fuse a LeakyReluGrad and says so at ERROR level, once
# per compiled step, although the step runs (unfused) and trains correctly.
BENIGN_NATIVE = (
    re.compile(r"^E\d{4} .*meta_optimizer\.cc:\d+\] (remapper|layout|arithmetic_optimizer|constant_folding) failed"),
    # A request an export refused (its checks raise InvalidArgumentError): the caller gets the error.
    re.compile(r"^W\d{4} .*local_rendezvous\.cc:\d+\] Local rendezvous is aborting with status: INVALID_ARGUMENT"),
    re.compile(r"^\t \[\[\{\{(function_)?node "),
)


@contextlib.contextmanager
def filtered_native_stderr(patterns=BENIGN_NATIVE, *, terminal_only: bool = True):
    """Pass everything written to file descriptor 2 through, except lines matching ``patterns``
    (TensorFlow's C++ logging writes there directly, so no Python-level filter can catch it).

    A thread copies a pipe's lines to the real stderr as they come; on exit everything written is
    flushed before the descriptor is restored. ``KERAS_GEN_TF_LOGS=1`` shows everything. With
    ``terminal_only`` (the default) it acts only when stderr is a terminal: logs written to files
    and pipes stay complete and untouched.
    """
    import sys

    if os.environ.get("KERAS_GEN_TF_LOGS") or (terminal_only and not os.isatty(2)):
        yield
        return

    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump():
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                out = [line for line in lines if not any(p.search(line.decode("utf-8", "replace")) for p in patterns)]
                if out:
                    os.write(saved, b"".join(line + b"\n" for line in out))
            if pending:
                os.write(saved, pending)

    thread = threading.Thread(target=pump, name="native-stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump sees end-of-file
        thread.join(timeout=5)
        os.close(saved)
