#!/usr/bin/env python
"""keras_gen against its PyTorch twins, paired: for each model, ``--pairs`` rounds of one
``train_speed.py`` run and one ``pytorch_twins.py`` run back to back (the order alternating), so the
machine's drift hits both frameworks alike; the ratio is keras_gen's images/s over PyTorch's, per
pair and as the median of the pairs. Both frameworks' fp32 matmul rates are measured in the same
rounds (TensorFlow's here, PyTorch's by the twin's own process), and each model's GFLOP/s is given
as a share of its framework's.

    python benchmarks/pytorch_pairs.py                                   # dcgan (batch 128), vae_conv, wgan_gp, mlp_gan
    python benchmarks/pytorch_pairs.py --models dcgan --batch-size 128 --pairs 3 --out pairs.json
    python benchmarks/pytorch_pairs.py --torch /path/to/venv/bin/python  # PyTorch lives in a venv of its own

PyTorch is not a keras_gen dependency: ``--torch`` names a Python with ``torch`` installed (default
``/tmp/torchenv/bin/python``; see ``pytorch_twins.py`` for the one-line install).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
BATCH = {"dcgan": 128}  # the issue's setting for dcgan; the others at their reports' batch sizes


def last_json(proc: subprocess.CompletedProcess, what: str) -> dict:
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def keras_run(model: str, batch: int | None, seconds: float) -> dict:
    cmd = [sys.executable, str(HERE / "train_speed.py"), "--single", model, "--single-jit", "model",
           "--seconds", str(seconds), "--repeats", "3"]
    if batch:
        cmd += ["--batch-size", str(batch)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return last_json(subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env), f"train_speed {model}")


def torch_run(python: str, model: str, batch: int | None, seconds: float) -> dict:
    cmd = [python, str(HERE / "pytorch_twins.py"), "--model", model, "--seconds", str(seconds), "--repeats", "3"]
    if batch:
        cmd += ["--batch-size", str(batch)]
    return last_json(subprocess.run(cmd, capture_output=True, text=True, cwd=REPO), f"pytorch_twins {model}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="dcgan,vae_conv,wgan_gp,mlp_gan")
    p.add_argument("--batch-size", type=int, help="every model's batch (default: dcgan 128, the others the report's)")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0, help="length of each timed run")
    p.add_argument("--torch", default="/tmp/torchenv/bin/python", help="a Python with torch installed")
    p.add_argument("--out", help="write every run as JSON here")
    args = p.parse_args(argv)
    if not Path(args.torch).exists():
        raise SystemExit(f"no PyTorch Python at {args.torch}: pass --torch (see benchmarks/pytorch_twins.py)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from machine import cpu_info, describe, measure_peak

    info = cpu_info()
    print(describe(info), flush=True)
    rows = []
    for model in args.models.split(","):
        batch = args.batch_size or BATCH.get(model)
        pairs = []
        for i in range(args.pairs):
            tf_peak = measure_peak()["gflops"]
            first, second = ("keras", "torch") if i % 2 == 0 else ("torch", "keras")
            runs = {}
            for which in (first, second):
                runs[which] = keras_run(model, batch, args.seconds) if which == "keras" else \
                    torch_run(args.torch, model, batch, args.seconds)
            k, t = runs["keras"], runs["torch"]
            pair = {"keras_images_per_sec": k["images_per_sec"], "torch_images_per_sec": t["images_per_sec"],
                    "ratio": k["images_per_sec"] / t["images_per_sec"], "tf_matmul_gflops": tf_peak,
                    "torch_matmul_gflops": t["matmul_gflops"], "keras_gflops": k["gflops"],
                    "torch_gflops": k["gflop_per_image"] * t["images_per_sec"], "keras": k, "torch": t}
            pairs.append(pair)
            print(f"{model} pair {i + 1}: keras_gen {k['images_per_sec']:.1f} img/s, PyTorch {t['images_per_sec']:.1f} "
                  f"img/s, ratio {pair['ratio']:.2f}x (matmul TF {tf_peak:.0f}, torch {t['matmul_gflops']:.0f} "
                  "GFLOP/s)",
                  flush=True)
        med = {key: statistics.median(p[key] for p in pairs) for key in
               ("keras_images_per_sec", "torch_images_per_sec", "ratio", "tf_matmul_gflops", "torch_matmul_gflops",
                "keras_gflops", "torch_gflops")}
        rows.append({"model": model, "batch_size": pairs[0]["keras"]["batch_size"], "pairs": pairs, "median": med})
    print()
    print("| model | batch | keras_gen img/s | PyTorch img/s | ratio (median; pairs) | keras_gen of TF matmul | "
          "PyTorch of torch matmul |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for r in rows:
        m = r["median"]
        each = ", ".join(f"{p['ratio']:.2f}" for p in r["pairs"])
        print(f"| {r['model']} | {r['batch_size']} | {m['keras_images_per_sec']:.1f} | "
              f"{m['torch_images_per_sec']:.1f} | "
              f"**{m['ratio']:.2f}x** ({each}) | {100 * m['keras_gflops'] / m['tf_matmul_gflops']:.0f}% of "
              f"{m['tf_matmul_gflops']:.0f} | {100 * m['torch_gflops'] / m['torch_matmul_gflops']:.0f}% of "
              f"{m['torch_matmul_gflops']:.0f} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": info, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
