#!/usr/bin/env python
"""What was tried against keras_gen and survived: random SIGKILLs of a training run (resumed each
time), concurrent exports of one run, and hostile requests to an export. Prints the figures the
README's reliability paragraph quotes.

    .venv/bin/python benchmarks/faults.py [--kills 20] [--exports 6] [--seed 0]

Real processes and files in a temporary directory; takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from faults import concurrent_exports, kill_and_resume  # noqa: E402  (tests/faults.py)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--exports", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import numpy as np
    import tensorflow as tf

    from keras_gen.datasets.idx import load_idx_arrays

    with tempfile.TemporaryDirectory(prefix="keras-gen-faults-") as tmp:
        tmp = Path(tmp)
        # Real MNIST, the first 2,048 training images (an epoch of 128 steps at batch 16).
        from conftest import write_idx_dataset

        (xtr, ytr), (xte, yte) = (load_idx_arrays(REPO / "data" / "mnist", s) for s in ("train", "test"))
        data = write_idx_dataset(tmp / "mnist", (xtr[:2048], ytr[:2048]), (xte[:256], yte[:256]))
        epochs, steps = 8, 2048 // 16

        start = time.time()
        run_dir, root = tmp / "run", tmp / "saved_models"
        result = kill_and_resume(["--model", "vae_mlp_2d", "--data-dir", str(data), "--epochs", str(epochs),
                                  "--batch-size", "16", "--steps-per-execution", "1"], run_dir, root,
                                 kills=args.kills, total_steps=epochs * steps, seed=args.seed, cwd=tmp, timeout=3600)
        attempts = result["attempts"]
        latest = json.loads((run_dir / "checkpoints" / "latest.json").read_text())
        history = (run_dir / "history.csv").read_text().splitlines()[1:]
        lost = sum(max(0, a["epoch_before"] - b["epoch_before"]) for a, b in zip(attempts, attempts[1:]))
        versions = sorted(p.name for p in (root / "vae_mlp_2d_mnist").iterdir() if not p.name.startswith("."))
        plans = [a["plan"] for a in attempts if a["killed"]]
        print(f"random kills: {result['kills']} SIGKILLs ({plans.count('checkpoint')} during a checkpoint write, "
              f"{plans.count('export')} during the export, {plans.count('random')} at random steps), "
              f"{len(attempts)} processes, {time.time() - start:.0f} s")
        print(f"  final run exit status {attempts[-1]['returncode']}; epochs {latest['epoch']}/{epochs}, "
              f"steps {latest['steps']}/{epochs * steps}, history rows {len(history)}/{epochs}, "
              f"checkpoints lost {lost}, exported versions {versions}")

        start = time.time()
        procs = concurrent_exports(run_dir, tmp / "concurrent", n=args.exports, cwd=tmp)
        made = sorted(p.name for p in (tmp / "concurrent" / "vae_mlp_2d_mnist").iterdir()
                      if not p.name.startswith("."))
        print(f"concurrent exports: {args.exports} at once, {sum(p.returncode == 0 for p in procs)} succeeded, "
              f"versions {made}, models.config entries "
              f"{(tmp / 'concurrent' / 'models.config').read_text().count('name:')}, {time.time() - start:.0f} s")

        export = tf.saved_model.load(str(tmp / "concurrent" / "vae_mlp_2d_mnist" / made[0]))
        bad = {
            "100,000 seeds": lambda: export.signatures["sample"](seed=tf.range(100_000)),
            "NaN latent": lambda: export.signatures["generate"](z=tf.constant([[np.nan, 0.0]])),
            "latent of width 5": lambda: export.signatures["generate"](z=tf.zeros([1, 5])),
            "images in [0, 255]": lambda: export.signatures["encode"](images=tf.fill([1, 28, 28, 1], 255.0)),
            "images of 32x32": lambda: export.signatures["encode"](images=tf.zeros([1, 32, 32, 1])),
            "infinite image": lambda: export.signatures["reconstruct"](images=tf.fill([1, 28, 28, 1], np.inf)),
        }
        refused = 0
        for name, call in bad.items():
            try:
                call()
                print(f"  NOT refused: {name}")
            except (tf.errors.InvalidArgumentError, ValueError, TypeError):
                refused += 1
        alive = export.signatures["sample"](seed=tf.constant([0, 1]))["images"].shape == (2, 28, 28, 1)
        print(f"hostile requests: {refused}/{len(bad)} refused with an error, the export still serves: {alive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
