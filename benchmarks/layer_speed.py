#!/usr/bin/env python
"""Where a model's training time goes, layer by layer: forward + backward (gradients for the
input and the weights, as a training step needs) of every Dense and convolution layer of a zoo
model's networks, at a batch size, in GFLOP/s.

    python benchmarks/layer_speed.py --model dcgan --batch-size 128
    python benchmarks/layer_speed.py --model dcgan --batch-size 128 --out benchmarks/layers_dcgan.json

Each layer runs alone inside one ``tf.function`` on a random input of its own input shape, after
a warm-up; the median of ``--repeats`` timings of ``--steps`` calls is printed with the layer's
FLOPs (3x the forward multiply-adds x 2: forward, input gradient, weight gradient) and the share
of the machine's peak: TensorFlow's fp32 matmul measured in the same run (``benchmarks/machine.py``;
``--peak-gflops`` to give one). Layers cheaper
than a convolution (activations, BatchNorm, Dropout) are left out: the table shows where the
FLOPs are and which of them run slowly.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.machine import cpu_info, measure_peak  # noqa: E402
from benchmarks.machine import describe as describe_machine  # noqa: E402
from benchmarks.train_speed import layer_flops  # noqa: E402

TIMED = ("Dense", "Conv2D", "Conv2DTranspose")


def time_layer(layer, batch: int, *, steps: int, repeats: int) -> float:
    """Median seconds of one forward + backward of ``layer`` on a batch."""
    import tensorflow as tf

    shape = [batch, *layer.input.shape[1:]]
    x = tf.random.normal(shape, seed=0)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x, *layer.trainable_variables])

    for _ in range(2):
        [g.numpy() for g in step(x)]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            out = step(x)
        [g.numpy() for g in out]
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def describe(layer) -> str:
    name = type(layer).__name__
    cin, cout = layer.input.shape[-1], layer.output.shape[-1]
    if name == "Dense":
        return f"Dense {cin}->{cout}"
    (_, h, w, _), (_, oh, ow, _) = layer.input.shape, layer.output.shape
    k = "x".join(map(str, layer.kernel_size))
    s = layer.strides[0]
    return f"{name} {h}x{w}x{cin} -> {oh}x{ow}x{cout}, {k} s{s} {layer.padding}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--peak-gflops", type=float, help="default: TensorFlow's fp32 matmul, measured now")
    p.add_argument("--out")
    args = p.parse_args(argv)

    import models_zoo
    from keras_gen.config import resolve_config
    from keras_gen.training.build import build_model

    config = resolve_config(args.model, **({"batch_size": args.batch_size} if args.batch_size else {}))
    model = build_model(config, num_classes=10 if models_zoo.get(args.model).conditional else None)
    batch = config.batch_size
    if not args.peak_gflops:
        peak = measure_peak()
        print(describe_machine(cpu_info(), peak))
        args.peak_gflops = peak["gflops"]
    rows, total_seconds = [], 0.0
    print(f"{args.model}, batch {batch}: forward + backward per layer")
    print(f"{'network':14s} {'layer':58s} {'ms':>8s} {'GFLOP':>8s} {'GFLOP/s':>8s} {'peak':>6s}")
    for net in model.sub_networks:
        for layer in net.layers:
            if type(layer).__name__ not in TIMED or not layer.trainable_variables:
                continue
            seconds = time_layer(layer, batch, steps=args.steps, repeats=args.repeats)
            gflop = 3.0 * layer_flops(layer) * batch / 1e9
            row = {"network": net.name, "layer": describe(layer), "ms": 1e3 * seconds, "gflop": gflop,
                   "gflops": gflop / seconds, "peak_fraction": gflop / seconds / args.peak_gflops}
            rows.append(row)
            total_seconds += seconds
            print(f"{net.name:14s} {row['layer']:58s} {row['ms']:8.1f} {gflop:8.3f} {row['gflops']:8.1f} "
                  f"{100 * row['peak_fraction']:5.1f}%", flush=True)
    total_gflop = sum(r["gflop"] for r in rows)
    print(f"{'all':14s} {'':58s} {1e3 * total_seconds:8.1f} {total_gflop:8.3f} {total_gflop / total_seconds:8.1f} "
          f"{100 * total_gflop / total_seconds / args.peak_gflops:5.1f}%")
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model, "batch_size": batch, "layers": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
