#!/usr/bin/env python
"""Our best MNIST and Fashion-MNIST models beside the papers' figures, on the papers' protocol.

    python benchmarks/papers.py            # train what is missing, then measure; resumable
    python benchmarks/papers.py --render   # rewrite docs/results/papers/ from what is measured

Protocol (Heusel et al. 2017 as TTUR, pytorch-fid and Lucic et al. 2018 use it): the standard FID
network (the 2015-12-05 Inception graph's 2048-d pool3 features), 10,000 samples against the
10,000 images of the dataset's test split, images resized to 299x299 as pytorch-fid does; KID
(unbiased at any count) over 100 subsets of 1,000; precision/recall (k = 3). Every figure is one
``keras-gen fid DATASET:test RUN --num-images 10000 --kid --prdc --json`` whose output is kept in
``runs/papers/<row>/fid10000.json``; the test split's statistics are computed once and cached.
The real-data floor (10,000 random training images against the test split) is measured too.

Rows: the best GAN and the best VAE of each dataset among this project's runs (docs/results),
each trained by the plain ``train.py`` command printed on the page. A run being trained by another
process (its ``progress.json`` names a live pid) is left to it and measured on a later pass.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / "runs" / "papers"
OUT = REPO / "docs" / "results" / "papers"
N = 10_000

# (row, dataset, family, train.py arguments, why this run)
ROWS = [
    ("vae_mlp_mnist", "mnist", "VAE", ["--model", "vae_mlp", "--dataset", "mnist", "--epochs", "30"],
     "Ponnuru's 784-400-20 VAE, the zoo's best VAE on MNIST in docs/results (3 minutes: 37 epochs)"),
    ("dcgan_32_mnist", "mnist", "GAN", ["--model", "dcgan_32", "--dataset", "mnist", "--epochs", "10"],
     "Ali's DCGAN at Ali's 10 epochs, the zoo's best GAN on MNIST (docs/results/report_budgets)"),
    ("vae_mlp_fashion_mnist", "fashion_mnist", "VAE",
     ["--model", "vae_mlp", "--dataset", "fashion_mnist", "--epochs", "30"],
     "the zoo's best VAE on Fashion-MNIST in docs/results/fashion_mnist"),
    ("mlp_gan_wide_fashion_mnist", "fashion_mnist", "GAN",
     ["--model", "mlp_gan_wide", "--dataset", "fashion_mnist", "--epochs", "12"],
     "Schulz's MLP GAN, the zoo's best GAN on Fashion-MNIST in docs/results/fashion_mnist (3 minutes: 11 epochs)"),
]

# Published figures: (dataset, model, FID, protocol, source).
PUBLISHED = [
    ("mnist", "WGAN / NS GAN", "6.7 / 6.8", "best of a large hyper-parameter search on a GPU, 10,000 samples against "
     "the test set (Lucic et al. 2018)", "Dai & Wipf 2019, Table 1 (reprinting Lucic et al. 2018)"),
    ("mnist", "VAE / 2-stage VAE", "16.6 / 12.6", "a neutral architecture without tuning, 10,000 samples",
     "Dai & Wipf 2019, Table 1"),
    ("mnist", "RAE-L2 / RAE-GP (Gaussian mixture fitted after training)", "9.9 / 9.4",
     "Ghosh et al.'s architecture and code (pythae's reproduction: 9.1 / 9.7)",
     "Ghosh et al. 2020; pythae's reproducibility README"),
    ("fashion_mnist", "WGAN / BEGAN", "21.5 / 22.9", "Lucic et al.'s search", "Dai & Wipf 2019, Table 1"),
    ("fashion_mnist", "VAE / 2-stage VAE", "43.6 / 29.3", "neutral architecture", "Dai & Wipf 2019, Table 1"),
]


def busy(run_dir: Path) -> bool:
    """Whether another live process is training ``run_dir`` (its progress.json names it)."""
    try:
        pid = json.loads((run_dir / "progress.json").read_text())["pid"]
        os.kill(int(pid), 0)
    except (OSError, ValueError, KeyError):
        return False
    return int(pid) != os.getpid()


def trained(run_dir: Path, epochs: int) -> bool:
    try:
        return json.loads((run_dir / "checkpoints" / "latest.json").read_text())["epoch"] >= epochs
    except (OSError, ValueError, KeyError):
        return False


def train_command(row: str, args: list[str]) -> list[str]:
    return ["python", "train.py", *args, "--run-dir", f"runs/papers/{row}", "--export-dir", "runs/papers/saved_models"]


def fid_command(dataset: str, b: str) -> list[str]:
    return ["keras-gen", "fid", f"{dataset}:test", b, "--num-images", str(N), "--kid", "--prdc", "--json"]


def measure(out: Path, command: list[str]) -> None:
    """Run ``keras-gen fid`` (this Python's) and keep its JSON in ``out``, written when complete."""
    if out.is_file():
        return
    proc = subprocess.run([sys.executable, "-m", "keras_gen", *command[1:]], cwd=REPO, stdout=subprocess.PIPE,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit status {proc.returncode}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(proc.stdout)
    tmp.replace(out)


def run_all() -> None:
    """Every row, then the floors (once every row is measured); a row another process is
    training is waited for."""
    while not run_pass():
        time.sleep(60)


def run_pass() -> bool:
    """One pass over the rows; False when a row was left to another process's training."""
    ROOT.mkdir(parents=True, exist_ok=True)
    complete = True
    for row, dataset, _, args, _ in ROWS:
        run_dir = ROOT / row
        epochs = int(args[args.index("--epochs") + 1])
        if not trained(run_dir, epochs):
            if busy(run_dir):
                print(f"{row}: being trained by another process; measured on a later pass", flush=True)
                complete = False
                continue
            resume = ["--resume"] if (run_dir / "config.json").is_file() else []
            subprocess.run([sys.executable, *train_command(row, args)[1:], *resume], cwd=REPO, check=True)
        measure(run_dir / f"fid{N}.json", fid_command(dataset, f"runs/papers/{row}"))
        render()
    if not complete:  # the models first: the floors wait for the rows another process is training
        return False
    for dataset in sorted({r[1] for r in ROWS}):
        measure(ROOT / f"floor-{dataset}" / f"fid{N}.json", fid_command(dataset, f"{dataset}:train"))
        render()
    return True


def fmt(value, digits=3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"


def render() -> None:
    """docs/results/papers/README.md and results.json from the measured rows."""
    rows = []
    for row, dataset, family, args, why in ROWS:
        path = ROOT / row / f"fid{N}.json"
        result = json.loads(path.read_text()) if path.is_file() else None
        history = ROOT / row / "history.csv"
        seconds, epochs_done = None, 0
        if history.is_file():
            import csv

            with open(history, newline="") as f:
                rows_read = list(csv.DictReader(f))
            seconds, epochs_done = sum(float(r.get("train_seconds") or 0) for r in rows_read), len(rows_read)
        rows.append({"row": row, "dataset": dataset, "family": family, "model": args[1], "why": why,
                     "train_command": " ".join(train_command(row, args)),
                     "fid_command": " ".join(fid_command(dataset, f"runs/papers/{row}")),
                     "train_minutes": None if seconds is None else round(seconds / 60, 1),
                     "epochs": int(args[args.index("--epochs") + 1]), "epochs_done": epochs_done, "result": result})
    floors = {}
    for dataset in sorted({r[1] for r in ROWS}):
        path = ROOT / f"floor-{dataset}" / f"fid{N}.json"
        floors[dataset] = json.loads(path.read_text()) if path.is_file() else None
    OUT.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    try:
        machine = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                       if line.startswith("model name")) + f", {os.cpu_count()} cores"
    except (OSError, StopIteration):
        pass
    lines = [
        "# Our models beside the papers' FIDs",
        "",
        f"Written by `python benchmarks/papers.py` (resumable; `--render` rewrites this page). Trained on {machine}.",
        "",
        "**Protocol.** The standard FID network (the 2015-12-05 TensorFlow Inception graph's 2048-d pool3 "
        "features, as in TTUR, pytorch-fid, TF-GAN and Lucic et al. 2018), rebuilt in Keras by keras_gen; "
        f"{N:,} samples from fixed seeds against the {N:,} images of the dataset's **test** split, grey images "
        "copied to three channels and resized to 299x299 bilinearly as pytorch-fid does (`--convention "
        "pytorch-fid`). KID: 100 subsets of 1,000, unbiased at any image count. Precision/recall: k = 3 "
        "(Kynkäänniemi et al. 2019). Each figure is one `keras-gen fid` command, printed below.",
        "",
    ]
    for dataset, title in (("mnist", "MNIST"), ("fashion_mnist", "Fashion-MNIST")):
        lines += [f"## {title}", "", "| model | family | trained here / protocol | FID | KID | precision | recall | "
                  "source |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in (r for r in rows if r["dataset"] == dataset):
            res = r["result"]
            trained_text = f"{r['epochs_done']} of {r['epochs']} epochs so far" if r["epochs_done"] < r["epochs"] \
                else f"{r['epochs']} epochs, {r['train_minutes']} min"
            if res is None:
                lines.append(f"| `{r['model']}` | {r['family']} | {trained_text} | not measured yet | | | | "
                             "this project |")
                continue
            kid = f"{res['kid']:.4f} ± {res['kid_std']:.4f}"
            lines.append(f"| `{r['model']}` | {r['family']} | {trained_text} | **{fmt(res['fid'])}** | {kid} | "
                         f"{fmt(res['precision'], 2)} | {fmt(res['recall'], 2)} | this project |")
        floor = floors.get(dataset)
        if floor:
            lines.append(f"| real: {N:,} training images | | | {fmt(floor['fid'])} | {floor['kid']:.4f} ± "
                         f"{floor['kid_std']:.4f} | {fmt(floor['precision'], 2)} | {fmt(floor['recall'], 2)} | "
                         "the floor: what a perfect model scores |")
        for d, model, figure, protocol, source in PUBLISHED:
            if d == dataset:
                lines.append(f"| {model} | published | {protocol} | {figure} | | | | {source} |")
        lines.append("")
    lines += [
        "## How the protocols differ",
        "",
        "* **Image count and reference set**: ours and Lucic et al.'s are 10,000 samples against the 10,000 test "
        "images; FID falls as the count grows, so figures on 1,000 or 50,000 images do not compare with these.",
        "* **Resize**: pytorch-fid's bilinear resize (half-pixel centres); Lucic et al. and Dai & Wipf used "
        "TensorFlow 1's (`--convention tensorflow-1`). On natural images the two agree to a few tenths of a "
        "percent; on 28x28 digits upsampled 10x the difference is larger, so a figure within about 1 of a "
        "published one is a tie.",
        "* **Models and budgets**: the published GAN figures are the best of a hyper-parameter search on GPUs; "
        "ours are the reports' architectures and settings, trained on this 2-core CPU for the epochs shown. The "
        "minutes are training steps only, on a machine other jobs shared (FID passes, tests), so they are upper "
        "bounds.",
        "* **Image size**: `dcgan_32` generates 32x32 images (MNIST padded by 2 pixels, as Ali's report trains "
        "it); `keras-gen fid` crops its samples back to 28x28, so every row is compared with the same 28x28 test "
        "images.",
        "",
        "## Commands",
        "",
    ]
    for r in rows:
        lines += [f"* `{r['row']}` ({r['why']}):", f"  `{r['train_command']}`, then `{r['fid_command']}`"]
    lines += [f"* floors: `keras-gen fid DATASET:test DATASET:train --num-images {N} --kid --prdc --json`", ""]
    tmp = OUT / ".README.md.tmp"
    tmp.write_text("\n".join(lines))
    tmp.replace(OUT / "README.md")
    tmp = OUT / ".results.json.tmp"
    tmp.write_text(json.dumps({"protocol": {"images": N, "reference": "test split", "convention": "pytorch-fid"},
                               "rows": rows, "floors": floors, "machine": machine},
                              indent=2).replace(str(Path.home()), "~") + "\n")  # no machine's home in the docs
    tmp.replace(OUT / "results.json")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--render", action="store_true", help="only rewrite docs/results/papers/ from what is measured")
    args = p.parse_args()
    if args.render:
        render()
    else:
        run_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
