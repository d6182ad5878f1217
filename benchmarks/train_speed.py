#!/usr/bin/env python
"""Training speed of zoo models: images/s of full train steps, GFLOP per image, share of peak.

    python benchmarks/train_speed.py                         # every model, XLA as each model chooses
    python benchmarks/train_speed.py --models dcgan,vae_conv --jit both --out before.json
    python benchmarks/train_speed.py --compare before.json   # ratio per model against an earlier run
    python benchmarks/train_speed.py --onednn both           # TensorFlow's oneDNN kernels off and on, per model
    python benchmarks/train_speed.py --mixed-precision both  # float32 and train.py's --mixed-precision, per model

Each model runs in its own process (so peak memory is its own): synthetic batches in the model's
value range at its default batch size, ``--warmup`` steps, then ``--repeats`` timed runs of
``--steps`` steps each (default: as many as take ``--seconds``, 3, measured after the warm-up,
so a 10 ms MLP step is timed over hundreds of steps); the median is reported. GFLOP per image
counts multiply-adds of the Dense/Conv layers (2 FLOP each) for one full training step as the
model runs it:

* GAN, per image and per discriminator step: G forward + D forward on real and fake + their
  backward (2x forward each) = G + 6 D; the generator step: G forward (none with
  ``generator_step="reuse"``, which reuses the last discriminator step's fakes), D forward, D
  backward to its input (~1x D) and G backward (2x G) = 3 G + 2 D (2 G + 2 D with reuse).
* WGAN-GP adds per critic step the penalty: D forward at the interpolates, its input gradient,
  and the gradient of both for the critic's weights: about 6 D.
* VAE: forward + backward of encoder and decoder = 3 (E + D).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def layer_flops(layer) -> float:
    """Forward FLOPs per example of one Keras layer (2 per multiply-add); 0 for cheap layers."""
    import keras

    if isinstance(layer, keras.Model):
        return sum(layer_flops(sub) for sub in layer.layers)
    name = type(layer).__name__
    if name == "Dense":
        return 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
    if name in ("Conv2D", "Conv2DTranspose"):
        kh, kw = layer.kernel_size
        # Conv2D kernel [kh, kw, in, out]; Conv2DTranspose kernel [kh, kw, out, in].
        cin_cout = layer.kernel.shape[2] * layer.kernel.shape[3]
        if name == "Conv2D":
            _, h, w, _ = layer.output.shape
        else:
            _, h, w, _ = layer.input.shape  # each input pixel scatters one kernel
        return 2.0 * kh * kw * cin_cout * h * w
    if name == "Embedding":
        return 0.0
    return 0.0


def step_gflops_per_image(model) -> float:
    nets = {net.name: layer_flops(net) for net in model.sub_networks}
    if model.family == "vae":
        return 3.0 * sum(nets.values()) / 1e9
    g, d = layer_flops(model.sub_networks[0]), layer_flops(model.sub_networks[1])
    k = getattr(model, "d_steps", getattr(model, "n_critic", 1))
    penalty = 6.0 * d if getattr(model, "gp_weight", None) else 0.0
    generator_forward = 0.0 if getattr(model, "generator_step", "fresh") == "reuse" else g
    # Per generated-batch image: k discriminator steps, one generator step.
    return (k * (g + 6.0 * d + penalty) + generator_forward + 2.0 * g + 2.0 * d) / 1e9


def synthetic_batches(model, config):
    """One fixed batch in the model's value range (with labels), repeated: the step alone is timed."""
    import tensorflow as tf

    batch = config.batch_size * model.data_batch_multiplier
    lo = -1.0 if model.value_range == "minus_one_one" else 0.0
    images = tf.random.uniform([batch, *config.image_shape], lo, 1.0, seed=1)
    labels = tf.random.uniform([batch], 0, 10, dtype=tf.int32, seed=2)
    return tf.data.Dataset.from_tensors((images, labels)).repeat().prefetch(tf.data.AUTOTUNE)


def time_epochs(model, ds, *, steps: int, repeats: int, warmup: int = 0) -> tuple[list[float], dict]:
    """``warmup`` untimed steps, then ``repeats`` epochs of ``steps`` steps: ``(wall seconds of each
    epoch, the fit's history)``."""
    import keras

    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    if warmup:
        model.fit(ds, epochs=1, steps_per_epoch=warmup, verbose=0)
    history = model.fit(ds, epochs=repeats, steps_per_epoch=steps, verbose=0, callbacks=[Timer()]).history
    return times, history


def measure_one(name: str, *, jit: bool | None, batch_size: int | None, steps: int | None, warmup: int,
                repeats: int, steps_per_execution: int | None = None, seconds: float = 3.0,
                mixed_precision: bool = False) -> dict:
    import numpy as np
    import tensorflow as tf

    import keras_gen  # noqa: F401  (before TensorFlow: its defaults, oneDNN on, apply as they do for users)
    import models_zoo
    from keras_gen.config import resolve_config
    from keras_gen.training.build import build_model, compile_model
    from keras_gen.training.distributed import dtype_policy
    from keras_gen.utils.cpu import onednn_enabled

    config = resolve_config(name, **({"batch_size": batch_size} if batch_size else {}),
                            **({"jit_compile": jit} if jit is not None else {}),
                            **({"steps_per_execution": steps_per_execution} if steps_per_execution else {}),
                            mixed_precision=mixed_precision)
    entry = models_zoo.get(name)
    with dtype_policy(mixed_precision, out=lambda *a, **k: print(*a, **k, file=sys.stderr)):  # as train.py builds
        model = build_model(config, num_classes=10 if entry.conditional else None)
        policy = model.sub_networks[0].dtype_policy.name
        compile_model(model, config)
    ds = synthetic_batches(model, config)
    if steps is None:  # as many steps as take `seconds`, judged from a second warm-up round
        (round_seconds,), _ = time_epochs(model, ds, warmup=warmup, steps=warmup, repeats=1)
        steps = max(warmup, int(seconds / (round_seconds / warmup)))
        spe = config.steps_per_execution
        steps = -(-steps // spe) * spe
        warmup = 0  # warm already
    times, _ = time_epochs(model, ds, warmup=warmup, steps=steps, repeats=repeats)
    seconds = statistics.median(times)
    images_per_sec = steps * config.batch_size / seconds  # generator-batch images per second
    gflop = step_gflops_per_image(model)
    return {
        "model": name,
        "jit_compile": bool(config.jit_compile),
        "dtype_policy": policy,
        "steps_per_execution": config.steps_per_execution,
        "batch_size": config.batch_size,
        "steps_timed": steps,
        "images_per_sec": images_per_sec,
        "images_per_sec_min": steps * config.batch_size / max(times),
        "images_per_sec_max": steps * config.batch_size / min(times),
        "gflop_per_image": gflop,
        "gflops": gflop * images_per_sec,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params": int(sum(net.count_params() for net in model.sub_networks)),
        "onednn": onednn_enabled(),
        "tensorflow_threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                               tf.config.threading.get_inter_op_parallelism_threads()],
        "numpy": np.__version__,
    }


def best_rows(rows: list[dict]) -> dict[str, dict]:
    """The fastest row per model (a ``--jit both`` run has two)."""
    best: dict[str, dict] = {}
    for row in rows:
        if row["model"] not in best or row["images_per_sec"] > best[row["model"]]["images_per_sec"]:
            best[row["model"]] = row
    return best


def print_comparison(results: list[dict], before_rows: list[dict], peak_gflops: float) -> None:
    """A Markdown table of this run against an earlier one: per model, images/s with each run's
    XLA / steps-per-execution setting, the ratio, GFLOP/s and share of peak after. Rows of this run
    are each model's default setting (or, for ``--jit both``, every setting); the earlier run's row
    is its default setting, or its fastest when it measured several."""
    before = best_rows(before_rows)
    print("\n| model | batch | before img/s | after img/s | XLA, steps/call | speed-up | GFLOP/img "
          "| GFLOP/s | of peak | peak RSS MB |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for row in results:
        old = before.get(row["model"])
        ratio = f"{row['images_per_sec'] / old['images_per_sec']:.2f}x" if old else "-"
        print(f"| {row['model']} | {row['batch_size']} | {old['images_per_sec']:.1f} | " if old else
              f"| {row['model']} | {row['batch_size']} | - | ", end="")
        print(f"{row['images_per_sec']:.1f} | {'on' if row['jit_compile'] else 'off'}, "
              f"{row.get('steps_per_execution', 1)} | {ratio} | {row['gflop_per_image']:.4f} | {row['gflops']:.1f} "
              f"| {100 * row['gflops'] / peak_gflops:.0f}% | {row['peak_rss_mb']:.0f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", help="comma-separated zoo names (default: all)")
    p.add_argument("--jit", choices=("model", "on", "off", "both"), default="model",
                   help="XLA: each model's choice, forced on/off, or both for comparison")
    p.add_argument("--batch-size", type=int, help="override every model's default batch size")
    p.add_argument("--steps-per-execution", type=int, help="override every model's steps per execution")
    p.add_argument("--steps", type=int, help="steps per timed run (default: as many as take --seconds)")
    p.add_argument("--seconds", type=float, default=3.0, help="length of a timed run when --steps is not given")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--peak-gflops", type=float,
                   help="compare with this GFLOP/s instead of TensorFlow's fp32 matmul measured now "
                        "(benchmarks/machine.py)")
    p.add_argument("--onednn", choices=("default", "on", "off", "both"), default="default",
                   help="TensorFlow's oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS): keras_gen's default (on unless "
                        "the variable says otherwise), forced on/off, or both for comparison")
    p.add_argument("--mixed-precision", choices=("off", "on", "both"), default="off",
                   help="train.py's --mixed-precision (bfloat16 on CPUs that compute it, else float16): off, on, or "
                        "both, each in its own process")
    p.add_argument("--out", help="write results as JSON here")
    p.add_argument("--compare", help="an earlier --out file: print the ratio per model")
    p.add_argument("--single", help=argparse.SUPPRESS)
    p.add_argument("--single-jit", help=argparse.SUPPRESS)
    p.add_argument("--single-mixed", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.single:
        jit = {"on": True, "off": False, "model": None}[args.single_jit]
        print(json.dumps(measure_one(args.single, jit=jit, batch_size=args.batch_size, steps=args.steps,
                                     warmup=args.warmup, repeats=args.repeats,
                                     steps_per_execution=args.steps_per_execution, seconds=args.seconds,
                                     mixed_precision=args.single_mixed)))
        return 0

    sys.path.insert(0, str(REPO))
    import keras_gen  # noqa: F401  (before TensorFlow, as above: the peak is measured with keras_gen's settings)

    if args.models:
        names = args.models.split(",")
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import models_zoo

        names = [n for n in models_zoo.names()]
    modes = {"model": ["model"], "on": ["on"], "off": ["off"], "both": ["off", "on"]}[args.jit]
    # The machine's attainable fp32 throughput, measured in this run (before and after the models,
    # the higher one counting: a machine that got busier meanwhile is not credited to the models).
    sys.path.insert(0, str(REPO / "benchmarks"))
    from machine import cpu_info, describe, measure_peak

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    info = cpu_info()
    peaks = [] if args.peak_gflops else [measure_peak()]
    if peaks:
        print(describe(info, peaks[0]), flush=True)
        args.peak_gflops = peaks[0]["gflops"]
    onednn = {"default": [None], "on": ["1"], "off": ["0"], "both": ["0", "1"]}[args.onednn]
    precisions = {"off": [False], "on": [True], "both": [False, True]}[args.mixed_precision]
    results = []
    for name in names:
        for mode, dnn, mixed in ((m, d, x) for m in modes for d in onednn for x in precisions):
            env = {**os.environ, **({"TF_ENABLE_ONEDNN_OPTS": dnn} if dnn else {})}
            cmd = [sys.executable, __file__, "--single", name, "--single-jit", mode, "--warmup", str(args.warmup),
                   "--repeats", str(args.repeats), "--seconds", str(args.seconds)]
            if args.steps:
                cmd += ["--steps", str(args.steps)]
            if args.batch_size:
                cmd += ["--batch-size", str(args.batch_size)]
            if args.steps_per_execution:
                cmd += ["--steps-per-execution", str(args.steps_per_execution)]
            if mixed:
                cmd += ["--single-mixed"]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
            if proc.returncode != 0:
                print(f"{name} (jit {mode}, oneDNN {dnn or 'default'}): failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["peak_fraction"] = row["gflops"] / args.peak_gflops
            results.append(row)
            print(f"{row['model']:16s} jit={'on ' if row['jit_compile'] else 'off'} "
                  f"oneDNN={'on ' if row['onednn'] else 'off'} {row['dtype_policy']:14s} "
                  f"spe {row['steps_per_execution']:2d} "
                  f"batch {row['batch_size']:4d} "
                  f"{row['images_per_sec']:9.1f} img/s (min {row['images_per_sec_min']:.1f}, max "
                  f"{row['images_per_sec_max']:.1f})  {row['gflop_per_image']:.4f} GFLOP/img  "
                  f"{row['gflops']:6.1f} GFLOP/s = {100 * row['peak_fraction']:4.1f}% of peak  "
                  f"{row['peak_rss_mb']:.0f} MB", flush=True)
    if peaks:  # again after the models; the share of peak below uses the higher of the two
        peaks.append(measure_peak())
        args.peak_gflops = max(p["gflops"] for p in peaks)
        print(f"matmul peak before / after the models: {peaks[0]['gflops']:.0f} / {peaks[1]['gflops']:.0f} GFLOP/s; "
              f"shares of peak are of {args.peak_gflops:.0f}", flush=True)
        for row in results:
            row["peak_fraction"] = row["gflops"] / args.peak_gflops
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": info, "peaks": peaks, "peak_gflops": args.peak_gflops,
                                              "results": results}, indent=2))
    if args.compare:
        print_comparison(results, json.loads(Path(args.compare).read_text())["results"], args.peak_gflops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
