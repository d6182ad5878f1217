"""TensorFlow's native log lines: benign ones are dropped, everything else reaches stderr in order."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import os, sys
from keras_gen.utils.native import filtered_native_stderr
with filtered_native_stderr(terminal_only=False):
    os.write(2, b"E0000 00:00:1796000000.1 123 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: "
                b"Mutation::Apply error: fanout 'gradient_tape/discriminator/leaky_re_lu/LeakyReluGrad' exist\n")
    os.write(2, b"E0000 00:00:1796000000.2 123 some_kernel.cc:12] a real native error\n")
    print("a Python line", file=sys.stderr)
    os.write(2, b"no newline at the end")
print("\nafter the block", file=sys.stderr)
"""


def run(env_extra=None):
    import os

    env = {**os.environ, **(env_extra or {})}
    env.pop("KERAS_GEN_TF_LOGS", None) if not env_extra else None
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60)


def test_benign_grappler_lines_are_dropped_and_the_rest_kept_in_order():
    err = run().stderr
    assert "remapper failed" not in err
    assert err.index("a real native error") < err.index("a Python line") < err.index("no newline at the end") \
        < err.index("after the block")


def test_keras_gen_tf_logs_shows_everything():
    assert "remapper failed" in run({"KERAS_GEN_TF_LOGS": "1"}).stderr
