#!/usr/bin/env python
"""Training speed on GPUs: images/s per zoo model with and without mixed precision and XLA, on 1
and on all N GPUs of the host, through ``tf.distribute.MirroredStrategy`` -- the table for
benchmarks/README.md ("GPU").

    python benchmarks/gpu.py                               # the default models, every setting
    python benchmarks/gpu.py --models dcgan,vae_conv --steps 100 --out gpu.json
    python benchmarks/gpu.py --smoke                       # a tiny run on whatever devices exist (CPU here)

A GPU host runs it as it is: nothing in the package changes between CPU and GPU. Without a GPU it
says so and runs the smoke mode (one small model, a few steps, one device), which checks the
script itself, not speed.

Each setting runs in its own process (the dtype policy, XLA's caches and GPU memory are per
process): the model as ``train.py`` builds it (``keras_gen.training.build``, with
``--mixed-precision``'s policy and loss scaling, and ``--jit``), synthetic batches in its value
range, ``--batch-size`` images *per GPU* (the model's report batch by default), so N GPUs train a
global batch N times as large -- weak scaling, what ``--batch-size`` N x B on N GPUs would do.
``--warmup`` steps (tracing, XLA compilation, cuDNN autotuning) are not timed; then ``--repeats``
timed runs of ``--steps`` steps, the median reported. images/s counts the images the generator
(or the VAE) trains on per step, as ``train_speed.py`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = ("dcgan", "dcgan_faces", "wgan_gp", "acgan", "vae_conv", "vae_faces", "mlp_gan_wide")
SMOKE_MODELS = ("mlp_gan_small",)


def measure_one(name: str, *, gpus: int, mixed: bool, xla: bool, batch_per_device: int | None, steps: int,
                warmup: int, repeats: int) -> dict:
    """One setting, in this process: ``gpus`` = 0 runs on the default device (the smoke mode)."""
    sys.path.insert(0, str(REPO))
    from keras_gen.utils.native import import_tensorflow

    import_tensorflow()  # TensorFlow's native start-up lines silenced
    import keras
    import tensorflow as tf

    import models_zoo
    from keras_gen.config import resolve_config
    from keras_gen.training.build import build_model, compile_model
    from keras_gen.training.distributed import dtype_policy

    sys.path.insert(0, str(REPO / "benchmarks"))
    from train_speed import synthetic_batches, time_epochs

    devices = [f"/gpu:{i}" for i in range(gpus)]
    strategy = tf.distribute.MirroredStrategy(devices) if gpus else tf.distribute.get_strategy()
    entry = models_zoo.get(name)
    per_device = batch_per_device or entry.batch_size
    replicas = max(gpus, 1)
    config = resolve_config(name, batch_size=per_device * replicas, jit_compile=xla, mixed_precision=mixed,
                            strategy="mirrored" if gpus else "default", steps_per_execution=1)
    with dtype_policy(mixed), strategy.scope():
        model = build_model(config, num_classes=10 if entry.conditional else None)
        compile_model(model, config)
    ds = synthetic_batches(model, config)
    times, history = time_epochs(model, ds, warmup=warmup, steps=steps, repeats=repeats)
    seconds = statistics.median(times)
    logs = {k: float(v[-1]) for k, v in history.items()}
    gpu_names = sorted({tf.config.experimental.get_device_details(d).get("device_name", "GPU")
                        for d in tf.config.list_physical_devices("GPU")[:gpus]})
    return {
        "model": name, "gpus": gpus, "mixed_precision": mixed, "xla": xla,
        "batch_per_device": per_device, "global_batch": config.batch_size, "steps": steps,
        "images_per_sec": steps * config.batch_size / seconds,
        "images_per_sec_min": steps * config.batch_size / max(times),
        "finite_losses": all(v == v and abs(v) != float("inf") for v in logs.values()),
        "device": ", ".join(gpu_names) or "CPU", "tensorflow": tf.__version__, "keras": keras.__version__,
    }


def gpu_count() -> int:
    """Physical GPUs TensorFlow sees, counted in a child process (this one stays free of CUDA)."""
    code = ("from keras_gen.utils.native import import_tensorflow; import_tensorflow(); import tensorflow as tf; "
            "print(len(tf.config.list_physical_devices('GPU')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return int(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else 0


def print_table(rows: list[dict]) -> None:
    """The Markdown table for benchmarks/README.md: per model, each setting against fp32, no XLA, 1 GPU."""
    if not rows:
        return
    first = rows[0]
    print(f"\n{first['device']}; TensorFlow {first['tensorflow']}, Keras {first['keras']}; "
          f"batch per GPU = the model's report batch unless --batch-size; median of the timed runs.\n")
    print("| model | GPUs | precision | XLA | global batch | images/s | vs fp32, no XLA, 1 GPU |")
    print("|---|---:|---|---|---:|---:|---:|")
    base = {r["model"]: r["images_per_sec"] for r in rows
            if not r["mixed_precision"] and not r["xla"] and r["gpus"] == min(x["gpus"] for x in rows)}
    for r in rows:
        ratio = f"{r['images_per_sec'] / base[r['model']]:.2f}x" if r["model"] in base else "-"
        print(f"| {r['model']} | {r['gpus'] or 'CPU'} | {'mixed fp16' if r['mixed_precision'] else 'fp32'} | "
              f"{'on' if r['xla'] else 'off'} | {r['global_batch']} | {r['images_per_sec']:.1f} | {ratio} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", help=f"comma-separated zoo names (default: {','.join(DEFAULT_MODELS)})")
    p.add_argument("--batch-size", type=int, help="images per GPU (default: each model's report batch)")
    p.add_argument("--steps", type=int, default=50, help="steps per timed run")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (tracing, XLA, cuDNN autotuning)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--gpus", help="comma-separated GPU counts (default: 1 and all)")
    p.add_argument("--precision", choices=("both", "fp32", "mixed"), default="both")
    p.add_argument("--xla", choices=("both", "on", "off"), default="both")
    p.add_argument("--smoke", action="store_true", help="a tiny run on the default device (checks the script)")
    p.add_argument("--out", help="write the rows as JSON here")
    p.add_argument("--single", help=argparse.SUPPRESS)  # name,gpus,mixed,xla: one setting, in this process
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import cpu_info, describe  # the machine line every speed benchmark prints first

    print(describe(cpu_info()), flush=True)

    if args.single:
        name, gpus, mixed, xla = args.single.split(",")
        row = measure_one(name, gpus=int(gpus), mixed=mixed == "1", xla=xla == "1", batch_per_device=args.batch_size,
                          steps=args.steps, warmup=args.warmup, repeats=args.repeats)
        print(json.dumps(row))
        return 0

    available = gpu_count()
    if args.smoke or not available:
        if not available:
            print("no GPU found: running the smoke mode (one small model, a few steps on the CPU); "
                  "the figures below check the script, they are not GPU speeds", flush=True)
        names = args.models.split(",") if args.models else list(SMOKE_MODELS)
        counts, steps, warmup, repeats = [0], min(args.steps, 3), min(args.warmup, 1), 1
        batch = args.batch_size or 16
        xla_modes = [False]
    else:
        names = args.models.split(",") if args.models else list(DEFAULT_MODELS)
        counts = [int(c) for c in args.gpus.split(",")] if args.gpus else sorted({1, available})
        if max(counts) > available:
            print(f"--gpus {args.gpus}: this host has {available} GPU(s)", file=sys.stderr)
            return 2
        steps, warmup, repeats, batch = args.steps, args.warmup, args.repeats, args.batch_size
        xla_modes = {"both": [False, True], "on": [True], "off": [False]}[args.xla]
    precisions = {"both": [False, True], "fp32": [False], "mixed": [True]}[args.precision]
    rows = []
    for name in names:
        for gpus in counts:
            for mixed in precisions:
                for xla in xla_modes:
                    setting = f"{name},{gpus},{int(mixed)},{int(xla)}"
                    cmd = [sys.executable, __file__, "--single", setting, "--steps", str(steps), "--warmup",
                           str(warmup), "--repeats", str(repeats)] + (["--batch-size", str(batch)] if batch else [])
                    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
                    label = (f"{name:14s} {'CPU' if not gpus else f'{gpus} GPU'}  "
                             f"{'mixed' if mixed else 'fp32 '}  XLA {'on ' if xla else 'off'}")
                    if proc.returncode != 0:
                        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
                        print(f"{label}  failed: {reason}", flush=True)
                        continue
                    row = json.loads(proc.stdout.strip().splitlines()[-1])
                    rows.append(row)
                    print(f"{label}  batch {row['global_batch']:5d}  {row['images_per_sec']:10.1f} images/s"
                          f"{'' if row['finite_losses'] else '  (non-finite losses!)'}", flush=True)
    print_table(rows)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
