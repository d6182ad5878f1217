#!/usr/bin/env python
"""Input-pipeline throughput, alone, against a ``dcgan`` train step (issue 4).

Measures :func:`keras_gen.datasets.pipeline.build_train_set` (decode, centre crop, antialiased resize, cache,
shuffle, batch, scale, prefetch) in images per second, with no model attached:

* ``mnist``: the IDX files in ``data/mnist`` (arrays in memory), at 28x28 (native), 64x64, 128x128;
* ``celeba``: a synthetic CelebA-layout folder (``img_align_celeba/NNNNNN.jpg``, 178x218 JPEGs of
  about CelebA's file size, with ``list_eval_partition.txt``) read by the real ``celeba`` loader,
  at 64x64 and 128x128, with the memory cache and with the tf.data file cache.

Epoch 1 is the cold rate (every file read and decoded), epoch 2 the cached rate. A ``dcgan``
train step (Junnuthula §3.1.2, batch 32, on a constant batch so no input cost is included) is
timed at the same sizes; the pipeline is not the bottleneck when its cold rate exceeds the
step's. Prints a table and writes JSON with ``--out``::

    python benchmarks/input_pipeline.py --out benchmarks/input_pipeline.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_gen.datasets import pipeline, registry  # noqa: E402
from keras_gen.utils.fileio import write_json  # noqa: E402

BATCH = 32


def write_synthetic_celeba(root: Path, n: int, seed: int = 0) -> Path:
    """``n`` face-sized JPEGs (smooth colour fields plus grain, ~CelebA's 8-12 KB) in CelebA's layout."""
    rng = np.random.default_rng(seed)
    images = root / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        coarse = rng.uniform(0, 255, size=(1, 7, 6, 3)).astype(np.float32)
        field = tf.image.resize(coarse, (218, 178), method="bicubic")[0]  # [218, 178, 3]
        field += rng.normal(0, 6, size=(218, 178, 3)).astype(np.float32)
        image = tf.cast(tf.clip_by_value(tf.round(field), 0, 255), tf.uint8)
        (images / f"{i:06d}.jpg").write_bytes(tf.io.encode_jpeg(image, quality=90).numpy())
    (root / "list_eval_partition.txt").write_text("".join(f"{i:06d}.jpg 0\n" for i in range(1, n + 1)))
    return root


def time_epochs(source: tf.data.Dataset, *, image_shape, cache_dir=None, epochs: int = 2) -> list[float]:
    """Images/s of each of ``epochs`` passes over ``build_train_set(source)`` with nothing attached."""
    ds = pipeline.build_train_set(source, image_shape=image_shape, value_range="minus_one_one", batch_size=BATCH,
                              seed=0, cache_dir=cache_dir)
    rates = []
    for _ in range(epochs):
        start, count = time.perf_counter(), 0
        for images, _labels in ds:
            count += int(images.shape[0])
        rates.append(count / (time.perf_counter() - start))
    return rates


def time_dcgan(image_shape, *, steps: int) -> float:
    """Images/s of ``dcgan`` train steps (Adam, batch 32) on one constant batch: no input cost."""
    import keras

    from keras_gen.config import resolve_config
    from keras_gen.training.build import build_model, compile_model

    config = resolve_config("dcgan", dataset="celeba" if image_shape[2] == 3 else "mnist",
                            image_size=image_shape[0], batch_size=BATCH)
    model = build_model(config, num_classes=None)
    compile_model(model, config)
    batch = tf.random.uniform((BATCH * model.data_batch_multiplier, *image_shape), -1.0, 1.0)
    ds = tf.data.Dataset.from_tensors((batch, tf.zeros((len(batch),), tf.int32))).repeat()
    ends = []
    stamp = keras.callbacks.LambdaCallback(on_train_batch_end=lambda *_, **__: ends.append(time.perf_counter()))
    # Steps 2..N+1 are timed, from the end of the first (which traces the step function).
    model.fit(ds, steps_per_epoch=steps + 1, epochs=1, verbose=0, shuffle=False, callbacks=[stamp])
    return steps * len(batch) / (ends[-1] - ends[0])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2000, help="synthetic CelebA-layout JPEGs (default 2000)")
    p.add_argument("--mnist-images", type=int, default=10000, help="MNIST images per pass (default 10000)")
    p.add_argument("--dcgan-steps", type=int, default=5, help="timed dcgan steps per size (default 5)")
    p.add_argument("--work-dir", help="where to write the synthetic JPEGs (default: a temporary directory)")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import cpu_info, describe, measure_peak  # the machine line every speed benchmark prints first

    print(describe(cpu_info(), measure_peak()), flush=True)

    rows = []
    mnist = registry.find_source("mnist", registry.REPO_DATA_DIR / "mnist")
    for size in (28, 64, 128):
        shape = (size, size, 1)
        rates = time_epochs(mnist.load("train").take(args.mnist_images), image_shape=shape)
        rows.append({"dataset": "mnist (IDX arrays)", "cache": "memory", "image_shape": list(shape),
                     "images": args.mnist_images, "epoch1_images_per_sec": rates[0],
                     "epoch2_images_per_sec": rates[1]})
        print(f"measured {rows[-1]['dataset']} at {size}", file=sys.stderr)

    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        start = time.perf_counter()
        root = write_synthetic_celeba(Path(tmp) / "celeba", args.images)
        jpeg_kb = np.mean([f.stat().st_size for f in (root / "img_align_celeba").iterdir()]) / 1024
        print(f"wrote {args.images} JPEGs ({jpeg_kb:.1f} KB each) in {time.perf_counter() - start:.1f} s",
              file=sys.stderr)
        source = registry.find_source("celeba", root)
        start = time.perf_counter()
        source.load("train")
        list_seconds = time.perf_counter() - start
        for size in (64, 128):
            shape = (size, size, 3)
            for cache in ("memory", "file"):
                saved = pipeline.MEMORY_CACHE_FRACTION
                if cache == "file":
                    pipeline.MEMORY_CACHE_FRACTION = 0.0
                try:
                    rates = time_epochs(source.load("train"), image_shape=shape,
                                        cache_dir=Path(tmp) / f"cache_{size}")
                finally:
                    pipeline.MEMORY_CACHE_FRACTION = saved
                rows.append({"dataset": "celeba layout (JPEG 178x218)", "cache": cache, "image_shape": list(shape),
                             "images": args.images, "epoch1_images_per_sec": rates[0],
                             "epoch2_images_per_sec": rates[1]})
                print(f"measured celeba at {size} ({cache} cache)", file=sys.stderr)

    steps = []
    for shape in ((28, 28, 1), (64, 64, 3), (128, 128, 3)):
        rate = time_dcgan(shape, steps=args.dcgan_steps)
        steps.append({"model": "dcgan", "image_shape": list(shape), "batch_size": BATCH, "images_per_sec": rate})
        print(f"measured dcgan at {shape}", file=sys.stderr)

    def fmt(shape):
        return "x".join(map(str, shape))

    print(f"\ninput pipeline alone (batch {BATCH}), images/s; tf {tf.__version__}, {os.cpu_count()} CPU cores")
    print(f"{'dataset':30s} {'size':10s} {'cache':6s} {'images':>6s} {'epoch 1 (cold)':>15s} {'epoch 2':>10s}")
    for r in rows:
        print(f"{r['dataset']:30s} {fmt(r['image_shape']):10s} {r['cache']:6s} {r['images']:6d} "
              f"{r['epoch1_images_per_sec']:15.0f} {r['epoch2_images_per_sec']:10.0f}")
    print(f"celeba listing + header check of {args.images} files: {list_seconds:.2f} s")
    print(f"\n{'dcgan train step':30s} {'size':10s} {'images/s':>10s}   cold pipeline / step rate")
    for s in steps:
        cold = [r["epoch1_images_per_sec"] for r in rows if r["image_shape"] == s["image_shape"]]
        ratio = f"{min(cold) / s['images_per_sec']:.0f}x" if cold else "-"
        print(f"{'dcgan, batch ' + str(BATCH):30s} {fmt(s['image_shape']):10s} {s['images_per_sec']:10.1f}   {ratio}")
    if args.out:
        write_json(args.out, {"pipeline": rows, "dcgan": steps, "celeba_list_seconds": list_seconds,
                              "tensorflow": tf.__version__, "cpu_count": os.cpu_count(),
                              "machine": platform.platform(), "batch_size": BATCH})
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
