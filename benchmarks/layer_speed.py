#!/usr/bin/env python
"""Where a model's training time goes, layer by layer: forward + backward (gradients for the
input and the weights, as a training step needs) of every Dense and convolution layer of a zoo
model's networks, at a batch size, in GFLOP/s.

    python benchmarks/layer_speed.py --model dcgan --batch-size 128
    python benchmarks/layer_speed.py --model dcgan --batch-size 128 --out benchmarks/layers_dcgan.json
    python benchmarks/layer_speed.py --model dcgan --mixed-precision   # as train.py --mixed-precision builds it
    python benchmarks/layer_speed.py --model dcgan --keras-path         # beside Keras' own layer, same weights

Each layer runs alone inside one ``tf.function`` on a random input of its own input shape, after
a warm-up; the median of ``--repeats`` timings of ``--steps`` calls is printed with the layer's
FLOPs (3x the forward multiply-adds x 2: forward, input gradient, weight gradient) and the share
of the machine's peak: TensorFlow's fp32 matmul measured in the same run (``benchmarks/machine.py``;
``--peak-gflops`` to give one; with ``--mixed-precision``, the matmul of the layers' compute dtype,
bfloat16 on a CPU that computes it). Layers cheaper
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


def time_layer(layer, batch: int, *, steps: int, repeats: int, input_shape=None) -> float:
    """Median seconds of one forward + backward of ``layer`` on a batch."""
    import tensorflow as tf

    shape = [batch, *(input_shape or layer.input.shape)[1:]]
    x = tf.cast(tf.random.normal(shape, seed=0), layer.compute_dtype)  # bfloat16 under --mixed-precision

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


def keras_twin(layer):
    """Keras' own layer of ``layer``'s class (same config, weights and dtype policy), built on its
    input, or None when ``layer`` is Keras' own (a Dense)."""
    import keras

    base = next((c for c in type(layer).__mro__[1:] if c.__module__.startswith("keras.")), None)
    if base is None or type(layer).__module__.startswith("keras."):
        return None
    twin = base.from_config(layer.get_config())
    twin.build(layer.input.shape)
    twin.set_weights(layer.get_weights())
    return twin if isinstance(twin, keras.layers.Layer) else None


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
    p.add_argument("--mixed-precision", action="store_true",
                   help="build the model as train.py --mixed-precision does (bfloat16 on CPUs that compute it)")
    p.add_argument("--keras-path", action="store_true",
                   help="also time each keras_gen.layers convolution as Keras' own layer with the same weights "
                        "(which TensorFlow kernels win on this machine)")
    p.add_argument("--out")
    args = p.parse_args(argv)

    import models_zoo
    from keras_gen.config import resolve_config
    from keras_gen.training.build import build_model
    from keras_gen.training.distributed import dtype_policy

    config = resolve_config(args.model, **({"batch_size": args.batch_size} if args.batch_size else {}),
                            mixed_precision=args.mixed_precision)
    with dtype_policy(args.mixed_precision):
        model = build_model(config, num_classes=10 if models_zoo.get(args.model).conditional else None)
    batch = config.batch_size
    compute_dtype = model.sub_networks[0].compute_dtype
    if not args.peak_gflops:
        peak = measure_peak(dtype=compute_dtype)
        print(describe_machine(cpu_info(), peak))
        args.peak_gflops = peak["gflops"]
    rows, total_seconds = [], 0.0
    print(f"{args.model}, batch {batch}, {compute_dtype}: forward + backward per layer")
    print(f"{'network':14s} {'layer':58s} {'ms':>8s} {'GFLOP':>8s} {'GFLOP/s':>8s} {'peak':>6s}"
          + (f" {'Keras ms':>9s}" if args.keras_path else ""))
    for net in model.sub_networks:
        for layer in net.layers:
            if type(layer).__name__ not in TIMED or not layer.trainable_variables:
                continue
            seconds = time_layer(layer, batch, steps=args.steps, repeats=args.repeats)
            gflop = 3.0 * layer_flops(layer) * batch / 1e9
            row = {"network": net.name, "layer": describe(layer), "ms": 1e3 * seconds, "gflop": gflop,
                   "gflops": gflop / seconds, "peak_fraction": gflop / seconds / args.peak_gflops}
            if args.keras_path:
                twin = keras_twin(layer)
                row["keras_ms"] = None if twin is None else \
                    1e3 * time_layer(twin, batch, steps=args.steps, repeats=args.repeats, input_shape=layer.input.shape)
            rows.append(row)
            total_seconds += seconds
            keras_ms = "" if not args.keras_path else f" {'same':>9s}" if row["keras_ms"] is None else \
                f" {row['keras_ms']:9.1f}"
            print(f"{net.name:14s} {row['layer']:58s} {row['ms']:8.1f} {gflop:8.3f} {row['gflops']:8.1f} "
                  f"{100 * row['peak_fraction']:5.1f}%{keras_ms}", flush=True)
    total_gflop = sum(r["gflop"] for r in rows)
    print(f"{'all':14s} {'':58s} {1e3 * total_seconds:8.1f} {total_gflop:8.3f} {total_gflop / total_seconds:8.1f} "
          f"{100 * total_gflop / total_seconds / args.peak_gflops:5.1f}%")
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model, "batch_size": batch, "compute_dtype": compute_dtype,
                                              "peak_gflops": args.peak_gflops, "layers": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
