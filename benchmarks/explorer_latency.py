#!/usr/bin/env python
"""Round trip of the explorer's predict calls (issue 16): ``keras-gen serve`` in a subprocess, the
calls made over HTTP with TF Serving's JSON exactly as the page makes them, for a 28x28 and a 64x64
model.

For each model: ``generate`` batch 1 (what a slider move or a map click costs: one image), ``sample``
batch 1 (a seed), ``generate`` batch 9 (one traversal strip), ``latent`` batch 1 and, for VAEs,
``encode`` batch 1 (a drawn digit). Each call is warmed up 5 times and then timed ``--calls`` times;
the table gives the median and 90th percentile of the round trip in ms, the same call straight on
the loaded SavedModel in this process ("model only": what HTTP and JSON add is the difference) and
the size of the reply::

    python benchmarks/explorer_latency.py                     # trains two tiny exports first (~1 min)
    python benchmarks/explorer_latency.py --root saved_models --models vae_mlp_2d_mnist dcgan_faces_mnist

Without ``--root`` it trains ``vae_mlp_2d`` (28x28) and ``dcgan_faces`` at 64x64 on MNIST for one
epoch of 256 images into a temporary directory (a model's weights do not change its speed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY = [("vae_mlp_2d", ["--dataset", "mnist"]), ("dcgan_faces", ["--dataset", "mnist", "--image-size", "64"])]


def train_tiny(root: Path) -> list[str]:
    names = []
    for model, extra in TINY:
        subprocess.run([sys.executable, str(REPO / "train.py"), "--model", model, *extra, "--epochs", "1",
                        "--limit", "256", "--run-dir", str(root.parent / "runs" / model), "--export-dir", str(root)],
                       check=True, capture_output=True, text=True)
        names.append(f"{model}_mnist")
    return names


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "keras_gen", "serve", str(root), "--port", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            line = proc.stdout.readline()
            match = re.search(r"at (http://\S+?)/v1/models", line)
            if match:
                return proc, match.group(1)
            if not line and proc.poll() is not None:
                break
    proc.kill()
    raise SystemExit("keras-gen serve did not start")


def post(url: str, body: dict) -> tuple[float, int]:
    data = json.dumps(body).encode()
    start = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=60) as reply:
        payload = reply.read()
    return time.perf_counter() - start, len(payload)


def calls_for(meta: dict):
    d = meta["latent_dim"]
    h, w, c = meta["image_shape"]
    z = [[0.1 * (i % 7) - 0.3 for i in range(d)]]
    label = {"label": [0]} if meta.get("num_classes") else {}
    label9 = {"label": [0] * 9} if meta.get("num_classes") else {}
    rows = [("generate", 1, {"z": z, **label}), ("sample", 1, {"seed": [7], **label}),
            ("generate", 9, {"z": z * 9, **label9}), ("latent", 1, {"seed": [7]})]
    if meta["family"] == "vae":
        rows.append(("encode", 1, {"images": [[[[0.5] * c] * w] * h], **label}))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, help="export root (default: train two tiny exports in a temp dir)")
    p.add_argument("--models", nargs="+", help="model names under --root (default: all)")
    p.add_argument("--calls", type=int, default=50, help="timed calls per row (50)")
    args = p.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import cpu_info, describe, measure_peak  # the machine line every speed benchmark prints first

    print(describe(cpu_info(), measure_peak()), flush=True)

    tmp = tempfile.TemporaryDirectory()
    root = args.root
    names = args.models
    if root is None:
        root = Path(tmp.name) / "saved_models"
        print("training two tiny exports ...", flush=True)
        names = train_tiny(root)
    names = names or sorted(q.name for q in root.iterdir() if q.is_dir() and any(q.glob("*/saved_model.pb")))

    from keras_gen.utils.native import import_tensorflow

    import_tensorflow()  # without TensorFlow's native start-up chatter
    import numpy as np
    import tensorflow as tf

    proc, base = start_server(root)
    try:
        print(f"server: {base}  ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
        header = f"{'model':24s} {'image':>9s} {'call':>9s} {'batch':>5s} {'median ms':>9s} {'p90 ms':>7s} " \
                 f"{'model only ms':>13s} {'reply bytes':>11s}"
        print(header)
        print("-" * len(header))
        for name in names:
            listing = json.loads(urllib.request.urlopen(f"{base}/v1/keras_gen/models").read())
            entry = next(m for m in listing["models"] if m["name"] == name)
            meta = entry["versions"][0]["keras_gen"]
            module = tf.saved_model.load(str(root / name / entry["latest_version"]))
            h, w, c = meta["image_shape"]
            for signature, batch, inputs in calls_for(meta):
                url = f"{base}/v1/models/{name}:predict"
                body = {"signature_name": signature, "inputs": inputs}
                fn = module.signatures[signature]
                specs = fn.structured_input_signature[1]
                tensors = {k: tf.constant(np.asarray(v, dtype=specs[k].dtype.as_numpy_dtype))
                           for k, v in inputs.items()}
                for _ in range(5):
                    post(url, body)
                    fn(**tensors)
                times, size = [], 0
                for _ in range(args.calls):
                    seconds, size = post(url, body)
                    times.append(seconds * 1000)
                direct = []
                for _ in range(args.calls):
                    start = time.perf_counter()
                    {k: v.numpy() for k, v in fn(**tensors).items()}
                    direct.append((time.perf_counter() - start) * 1000)
                times.sort()
                print(f"{name:24s} {f'{h}x{w}x{c}':>9s} {signature:>9s} {batch:5d} {statistics.median(times):9.1f} "
                      f"{times[int(0.9 * (len(times) - 1))]:7.1f} {statistics.median(direct):13.1f} "
                      f"{size:11d}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
