#!/usr/bin/env python
"""Evaluation speed (issues 5 and 7): 10,000 MNIST samples through ``keras-gen evaluate``'s own
functions, phase by phase.

1. the MNIST domain classifier: loaded from the cache, or trained first (its one-off cost);
2. the reference (``evaluation.load_reference``): features of the 10,000 test and 60,000 training
   images and the real-vs-real floor, cold (caches removed first) and then cached;
3. 10,000 samples from a zoo model (``--model``, default ``dcgan``; untrained weights: a generator
   costs the same trained or not), in ``evaluation.SAMPLE_BATCH`` batches inside one tf.function;
4. their features and class probabilities (``Evaluator.features_and_probs``: one tf.function,
   large batches) — issue 7's target: under 20 s;
5. every sample figure against the test set (``evaluation.sample_figures``: FID, KID 100 x 1,000,
   precision/recall k=3, density/coverage k=5, classifier score, class histogram, sharpness,
   nearest-training-neighbour distance against all 60,000 training features).

"Evaluation" is 2 (cached) + 3 + 4 + 5, what ``keras-gen evaluate`` costs on a GAN once the
dataset's features are cached — issue 5's target: under a minute. "Cold" uses 2 (cold) instead.
Each phase reports wall and process CPU seconds (all threads) and the load average, since wall
time on a shared machine includes waiting for other processes::

    python benchmarks/eval_speed.py --out benchmarks/eval_speed.json

The classifier is cached under ``$KERAS_GEN_CACHE`` (default ``~/.cache/keras_gen``); set it to
an empty directory to include the classifier's training time.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_gen.datasets import find_source  # noqa: E402
from keras_gen.evaluation import evaluate as evaluation  # noqa: E402
from keras_gen.evaluation import extractors as evaluators  # noqa: E402
from keras_gen.utils.fileio import write_json  # noqa: E402


class Clock:
    """Collects ``phase -> wall seconds`` (and CPU seconds, all threads) as the phases run."""

    def __init__(self):
        self.rows: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def time(self, phase: str, fn, *args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn(*args, **kwargs)
        self.rows[phase], self.cpu[phase] = time.perf_counter() - start, time.process_time() - cpu
        print(f"  {phase:48s} {self.rows[phase]:7.2f} s wall {self.cpu[phase]:7.2f} s CPU", flush=True)
        return result

    def total(self, phases) -> tuple[float, float]:
        phases = list(phases)
        return sum(self.rows[p] for p in phases), sum(self.cpu[p] for p in phases)


def sample_images(model_name: str, n: int) -> np.ndarray:
    """``n`` images in [0, 1] from an untrained zoo model, as ``keras-gen evaluate`` batches them."""
    import models_zoo

    model = models_zoo.build(model_name)
    generate = tf.function(lambda z: model.generate_unit(z), input_signature=[
        tf.TensorSpec([None, model.latent_dim], tf.float32)])
    z = tf.random.stateless_normal([n, model.latent_dim], seed=[0, 0])
    batch = evaluation.SAMPLE_BATCH
    return np.concatenate([generate(z[i:i + batch]).numpy() for i in range(0, n, batch)])


def drop_caches(cache_dir: Path) -> None:
    for pattern in ("features-mnist-*.npz", "floor-mnist-*.json"):
        for path in cache_dir.glob(pattern):
            path.unlink()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=10_000, help="samples (default 10,000)")
    p.add_argument("--model", default="dcgan", help="zoo model generating the samples (default dcgan)")
    p.add_argument("--out", help="write the timings and figures as JSON here")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import cpu_info, describe, measure_peak  # the machine line every speed benchmark prints first

    print(describe(cpu_info(), measure_peak()), flush=True)
    n, shape = args.n, (28, 28, 1)
    clock = Clock()
    print(f"evaluation speed: {n} samples, {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    settings = evaluation.EvalSettings(samples=n)
    source = find_source("mnist")
    evaluator = clock.time("domain classifier (load, or train once)", evaluators.get_evaluator, "mnist",
                           image_shape=shape, log=lambda line: print("  " + line, flush=True))
    drop_caches(evaluator.cache_dir)
    cold, cached = "reference: 70k features + floor, cold", "reference, cached"
    clock.time(cold, evaluation.load_reference, evaluator, source, image_shape=shape, settings=settings)
    reference = clock.time(cached, evaluation.load_reference, evaluator, source, image_shape=shape,
                           settings=settings)

    gen_phase, feat_phase = f"generate {n} samples ({args.model})", f"features + probabilities of {n} samples"
    images = clock.time(gen_phase, sample_images, args.model, n)
    features, probs = clock.time(feat_phase, evaluator.features_and_probs, images)
    fig_phase = "every sample figure (FID, KID, P/R, D/C, ...)"
    figures = clock.time(fig_phase, evaluation.sample_figures, reference.test,
                         {"features": features, "probs": probs, "images": images},
                         train_features=reference.train_features, num_classes=evaluator.num_classes,
                         settings=settings)

    totals = {"cached": clock.total([cached, gen_phase, feat_phase, fig_phase]),
              "cold": clock.total([cold, gen_phase, feat_phase, fig_phase])}
    print()
    for label, (wall, cpu) in totals.items():
        print(f"  {'evaluation, reference ' + label:48s} {wall:7.2f} s wall {cpu:7.2f} s CPU")
    print(f"\n  extractor {evaluator.name}: test accuracy {evaluator.test_accuracy:.4f}")
    print(f"  {'figure':20s} {'untrained ' + args.model:>18s} {'floor (test vs train)':>22s}")
    for key in ("fid", "kid", "precision", "recall", "density", "coverage", "classifier_score",
                "classes_covered", "sharpness", "nn_distance"):
        print(f"  {key:20s} {figures[key]:18.4g} {reference.floor[key]:22.4g}")
    if args.out:
        write_json(args.out, {
            "samples": n, "model": args.model, "cpus": os.cpu_count(), "loadavg": list(os.getloadavg()),
            "platform": platform.platform(), "tensorflow": tf.__version__, "extractor": evaluator.info(),
            "wall_seconds": {k: round(v, 3) for k, v in clock.rows.items()},
            "cpu_seconds": {k: round(v, 3) for k, v in clock.cpu.items()},
            "evaluation_seconds": {k: round(v[0], 2) for k, v in totals.items()},
            "evaluation_cpu_seconds": {k: round(v[1], 2) for k, v in totals.items()},
        })
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
