#!/usr/bin/env python
"""The machine a benchmark runs on: CPU model, vector instruction sets, cores, and its attainable
fp32 throughput measured now, in the same run as the figures compared with it.

    python benchmarks/machine.py               # prints the CPU and TensorFlow's best matmul GFLOP/s
    python benchmarks/machine.py --json

"Peak" here is what a plain TensorFlow fp32 matmul reaches on this machine at this moment: the best
of square sizes 512-2048 (each timed over ``seconds`` after a warm-up), on every core TensorFlow
uses. It is attainable, not theoretical (cores x GHz x FMA width), so a model's share of it says how
close the model runs to what the framework can do here, and it moves with the machine's load the
same way the model's figure does. Speed scripts import :func:`measure_peak` and print
:func:`describe` above their tables; none of them use a number written down elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import keras_gen  # noqa: E402, F401  (light: sets TF_ENABLE_ONEDNN_OPTS's default before TensorFlow's import)
from keras_gen.utils.cpu import cpu_model_and_flags, onednn_enabled  # noqa: E402

FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_info() -> dict:
    """CPU model, its vector instruction sets and the cores this process may use."""
    model, flags = cpu_model_and_flags()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "instruction_sets": [f for f in FLAGS if f in flags], "cores": cores,
            "load_average": list(os.getloadavg())}


def measure_peak(sizes=(512, 1024, 2048), seconds: float = 1.0, dtype: str = "float32") -> dict:
    """TensorFlow's best ``dtype`` matmul throughput here, now: ``{"gflops", "size", "by_size",
    "onednn", "dtype"}``, with keras_gen's TensorFlow settings (oneDNN on unless
    TF_ENABLE_ONEDNN_OPTS=0) if TensorFlow was not imported before. ``bfloat16``: the ceiling a CPU
    with AVX512-BF16 or AMX offers mixed precision."""
    import tensorflow as tf

    by_size = {}
    for n in sizes:
        a = tf.cast(tf.random.normal([n, n]), dtype)
        b = tf.cast(tf.random.normal([n, n]), dtype)
        matmul = tf.function(lambda x, y: tf.matmul(x, y))
        matmul(a, b).numpy()  # trace and warm up
        calls, start = 0, time.perf_counter()
        while True:
            matmul(a, b).numpy()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds and calls >= 3:
                break
        by_size[n] = 2 * n ** 3 * calls / elapsed / 1e9
    best = max(by_size, key=by_size.get)
    return {"gflops": by_size[best], "size": best, "by_size": by_size, "onednn": onednn_enabled(), "dtype": dtype}


def describe(info: dict, peak: dict | None = None) -> str:
    """One line: the CPU, its instruction sets, cores, load, and the measured peak."""
    line = (f"{info['cpu']}; {info['cores']} cores; {' '.join(info['instruction_sets']) or 'no AVX'}; "
            f"load average {info['load_average'][0]:.1f}")
    if peak:
        dtype = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}.get(peak.get("dtype", "float32"))
        line += (f"; TensorFlow {dtype} matmul {peak['gflops']:.0f} GFLOP/s (n = {peak['size']}, oneDNN "
                 f"{'on' if peak.get('onednn') else 'off'}, measured now)")
    return line


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--seconds", type=float, default=1.0, help="timing per matmul size")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    info, peak = cpu_info(), measure_peak(seconds=args.seconds)
    print(json.dumps({**info, "peak": peak}, indent=1) if args.json else describe(info, peak))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
