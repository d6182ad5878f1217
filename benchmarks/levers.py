#!/usr/bin/env python
"""The quality levers of issue 27, each against the same run without it: same model, data and
number of training steps, several seeds. Writes docs/results/levers/.

    python benchmarks/levers.py            # train what is missing, evaluate, write the page; resumable
    python benchmarks/levers.py --plan     # the commands, and nothing else
    python benchmarks/levers.py --render   # rewrite the page from the finished runs
    python benchmarks/levers.py --only mixed_precision   # train and measure one lever's pairs

A run that is not on this machine (a fresh clone has no ``runs/levers/``) keeps the figures the
page already publishes.

Each run trains a fixed number of steps (``--epochs E --steps-per-epoch 100``: equal work on both
sides, whatever else shares the CPU; each row says the training minutes it took), then
``keras-gen evaluate RUN --samples N`` measures it: the dataset's domain classifier's
FID, precision and recall, the figures docs/results ranks the zoo by (seconds per run, where the
standard Inception FID of 10,000 samples costs about 13 minutes on 2 cores; the papers page uses
that). A lever counts as better when the seeds' means differ by more than their spreads added
(sample standard deviations), else the difference is within the seeds' spread. A killed pass
resumes: a run whose training stopped early continues (``--resume``), an evaluation is redone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / "runs" / "levers"
OUT = REPO / "docs" / "results" / "levers"
SAMPLES = 5000


@dataclasses.dataclass(frozen=True)
class Lever:
    name: str
    label: str  # what the "with" runs add
    model: str
    dataset: str
    epochs: int  # of 100 steps
    flags: tuple  # train.py flags of the "with" runs
    common: tuple = ()  # train.py flags of both sides
    seeds: tuple = (0, 1, 2)


LEVERS = [
    # Schulz's MLP GAN: 3,000 steps take about a minute here, so three seeds of every pair fit a CPU
    # session (the convolutional dcgan_32 does about one step a second). The decay's horizon,
    # 1 / (1 - decay) = 1,000 steps, fits the budget.
    Lever("ema", "generator EMA, decay 0.999 (`--ema 0.999`)", "mlp_gan_wide", "mnist", 30, ("--ema", "0.999")),
    # Zhao et al. 2020's small-data setting: 1,000 training images (Ponnuru's CelebA runs used about as many).
    Lever("diffaugment", "DiffAugment translation,cutout on 1,000 images (`--diffaugment translation,cutout "
          "--limit 1000`)", "mlp_gan_wide", "mnist", 30, ("--diffaugment", "translation,cutout"), ("--limit", "1000")),
    # bfloat16 on a CPU that computes it (AVX512-BF16 or AMX; train.py picks mixed_bfloat16 there):
    # does 16-bit compute cost quality at equal steps? Speed: benchmarks/train_speed.py
    # --mixed-precision both. The VAE where it is fastest, three seeds; the goal recipes' dcgan_32,
    # two (each run about 4 minutes here).
    Lever("mixed_precision", "bfloat16 compute (`--mixed-precision` on an AVX512-BF16 CPU)", "vae_mlp", "mnist", 30,
          ("--mixed-precision",)),
    Lever("mixed_precision_dcgan_32", "bfloat16 compute (`--mixed-precision` on an AVX512-BF16 CPU)", "dcgan_32",
          "mnist", 10, ("--mixed-precision",), seeds=(0, 1)),
    # The learning rate decayed to 0 along a cosine over the same 3,000 steps (the Fashion-MNIST VAE
    # recipe of docs/results/papers uses it): a VAE and a GAN, three seeds each.
    Lever("lr_schedule", "cosine learning-rate decay to 0 (`--lr-schedule cosine`)", "vae_mlp", "mnist", 30,
          ("--lr-schedule", "cosine")),
    Lever("lr_schedule_gan", "cosine learning-rate decay to 0 (`--lr-schedule cosine`)", "mlp_gan_wide", "mnist", 30,
          ("--lr-schedule", "cosine")),
]


# The ex-post latent sampler of a VAE: each seed's run evaluated with its prior and with the
# mixture keras-gen fit-sampler fits to its codes (the same trained weights); measured with diagonal
# covariances, the only kind before full ones (the default now) were added.
SAMPLER = Lever("sampler", "a 10-component diagonal mixture fitted to the codes (`keras-gen fit-sampler RUN "
                "--covariance diag`)", "vae_mlp",
                "mnist", 20, ())
SAMPLER_ROOT = ROOT / "saved_models"

# The truncation trick, swept over psi on the runs without a lever (psi 1: their own evaluation).
TRUNCATIONS = (1.0, 0.9, 0.7, 0.5)
TRUNCATION_LEVER = "ema"


def run_dir(lever: Lever, side: str, seed: int) -> Path:
    return ROOT / f"{lever.name}-{side}-s{seed}"


def train_command(lever: Lever, side: str, seed: int) -> list[str]:
    flags = list(lever.flags) if side == "with" else []
    return ["python", "train.py", "--model", lever.model, "--dataset", lever.dataset, "--epochs", str(lever.epochs),
            "--steps-per-epoch", "100", "--seed", str(seed), *lever.common, *flags, "--no-export",
            "--run-dir", str(run_dir(lever, side, seed).relative_to(REPO))]


def eval_dir(path: Path, psi: float = 1.0) -> Path:
    return path / ("levers_eval" if psi == 1.0 else f"levers_eval-truncation{psi:g}")


def evaluate_command(path: Path, psi: float = 1.0) -> list[str]:
    truncation = [] if psi == 1.0 else ["--truncation", f"{psi:g}"]
    return ["keras-gen", "evaluate", str(path.relative_to(REPO)), "--samples", str(SAMPLES), *truncation,
            "--out", str(eval_dir(path, psi).relative_to(REPO))]


def trained_minutes(path: Path) -> float:
    """Minutes of training steps (history.csv's train_seconds, one row per epoch, summed)."""
    import csv

    try:
        with open(path / "history.csv", newline="") as f:
            return sum(float(row["train_seconds"]) for row in csv.DictReader(f)) / 60
    except (OSError, KeyError, ValueError):
        return 0.0


def train(lever: Lever, side: str, seed: int) -> None:
    """Train one run to its steps, unless done; a run killed before its budget goes on (--resume)."""
    path = run_dir(lever, side, seed)
    if finished(path, lever):
        return
    command = train_command(lever, side, seed)[1:]  # train.py ...
    if (path / "config.json").is_file():
        command = ["train.py", "--resume", "--run-dir", str(path.relative_to(REPO))]
    subprocess.run([sys.executable, *command], cwd=REPO, check=True)


def run_all(only=None) -> None:
    """Every lever's pairs, the truncation sweep and the sampler (or only the levers named ``only``)."""
    ROOT.mkdir(parents=True, exist_ok=True)
    for lever in LEVERS:
        if only and lever.name not in only:
            continue
        for seed in lever.seeds:
            for side in ("without", "with"):
                path = run_dir(lever, side, seed)
                train(lever, side, seed)
                psis = TRUNCATIONS if side == "without" and lever.name == TRUNCATION_LEVER else (1.0,)
                for psi in psis:
                    metrics = eval_dir(path, psi) / "metrics.json"
                    if not metrics.is_file() or json.loads(metrics.read_text())["subject"]["steps"] != steps(path):
                        subprocess.run([sys.executable, "-m", "keras_gen", *evaluate_command(path, psi)[1:]],
                                       cwd=REPO, check=True)
                render()
    if only and SAMPLER.name not in only:
        return
    for seed in SAMPLER.seeds:  # trained once, measured twice: its prior, then its fitted mixture
        path = run_dir(SAMPLER, "vae", seed)
        train(SAMPLER, "vae", seed)
        info = path / "latent_sampler.json"
        if not info.is_file() or json.loads(info.read_text())["epoch"] != SAMPLER.epochs:
            subprocess.run([sys.executable, "-m", "keras_gen", *fit_sampler_command(path)[1:]], cwd=REPO, check=True)
        for subject in (path, Path(json.loads(info.read_text())["export"])):
            out = sampler_eval_dir(path, subject != path)
            if not (out / "metrics.json").is_file():
                subprocess.run([sys.executable, "-m", "keras_gen", "evaluate", str(subject), "--samples", str(SAMPLES),
                                "--out", str(out)], cwd=REPO, check=True)
        render()


def fit_sampler_command(path: Path) -> list[str]:
    return ["keras-gen", "fit-sampler", str(path.relative_to(REPO)), "--components", "10", "--covariance", "diag",
            "--export-dir", str(SAMPLER_ROOT.relative_to(REPO))]


def sampler_eval_dir(path: Path, fitted: bool) -> Path:
    return path / ("levers_eval-sampler" if fitted else "levers_eval")


def finished(path: Path, lever: Lever) -> bool:
    try:
        return json.loads((path / "checkpoints" / "latest.json").read_text())["epoch"] >= lever.epochs
    except (OSError, ValueError, KeyError):
        return False


def steps(path: Path) -> int:
    return json.loads((path / "checkpoints" / "latest.json").read_text())["steps"]


def figures(path: Path, psi: float = 1.0) -> dict | None:
    try:
        result = json.loads((eval_dir(path, psi) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    metrics = result["metrics"]
    return {"fid": metrics["fid"]["value"], "precision": metrics.get("precision", {}).get("value"),
            "recall": metrics.get("recall", {}).get("value"), "steps": result["subject"]["steps"],
            "minutes": round(trained_minutes(path), 2), "extractor": metrics["fid"]["extractor"]}


def summary(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def verdict(without: list[float], with_: list[float]) -> str:
    (m0, s0), (m1, s1) = summary(without), summary(with_)
    if len(without) < 2 or len(with_) < 2:
        return "one seed: indicative"
    if abs(m1 - m0) <= s0 + s1:
        return "within the seeds' spread"
    return "**better**" if m1 < m0 else "**worse**"


def minutes(done: dict) -> str:
    """``without 0.7-1.2, with 0.8-1.1 min``: each side's range of training minutes."""
    spans = []
    for side, runs in done.items():
        values = [f["minutes"] for f in runs]
        low, high = f"{min(values):.1f}", f"{max(values):.1f}"
        spans.append(f"{side} {low if low == high else f'{low}-{high}'}")
    return ", ".join(spans) + " min"


def fmt(mean: float, sd: float) -> str:
    return f"{mean:.3g} ± {sd:.2g}"


def published() -> dict:
    """The figures docs/results/levers publishes now (``results.json``), ``{}`` when there are none."""
    try:
        return json.loads((OUT / "results.json").read_text())
    except (OSError, ValueError):
        return {}


def kept(measured: list, before: list | None) -> list:
    """``measured`` (one entry per seed, None where its run is not here) with the published figure
    of each missing one."""
    before = before or []
    return [m if m is not None or i >= len(before) else before[i] for i, m in enumerate(measured)]


def render() -> None:
    old = published()
    old_rows = {r["lever"]: r for r in old.get("rows", [])}
    rows, table = [], []
    for lever in LEVERS:
        sides = {side: kept([figures(run_dir(lever, side, s)) for s in lever.seeds],
                            old_rows.get(lever.name, {}).get("runs", {}).get(side))
                 for side in ("without", "with")}
        done = {side: [f for f in runs if f] for side, runs in sides.items()}
        rows.append({"lever": lever.name, "label": lever.label, "model": lever.model, "dataset": lever.dataset,
                     "steps": lever.epochs * 100, "seeds": list(lever.seeds), "runs": sides})
        if not done["without"] or not done["with"]:
            continue
        fid0, fid1 = ([f["fid"] for f in done[s]] for s in ("without", "with"))
        rec0, rec1 = ([f["recall"] for f in done[s]] for s in ("without", "with"))
        table.append(f"| {lever.label} | `{lever.model}` | {lever.dataset} | {lever.epochs * 100} steps "
                     f"({minutes(done)}) | "
                     f"{len(fid0)} / {len(fid1)} | {fmt(*summary(fid0))} | {fmt(*summary(fid1))} | "
                     f"{fmt(*summary(rec0))} | {fmt(*summary(rec1))} | {verdict(fid0, fid1)} |")
    base = next(lever for lever in LEVERS if lever.name == TRUNCATION_LEVER)
    sweep, sweep_table = {}, []
    for psi in TRUNCATIONS:
        runs = [f for f in kept([figures(run_dir(base, "without", s), psi) for s in base.seeds],
                                (old.get("truncation") or {}).get(f"{psi:g}")) if f]
        sweep[f"{psi:g}"] = runs
        if runs:
            sweep_table.append(f"| {psi:g} | {len(runs)} | {fmt(*summary([f['fid'] for f in runs]))} | "
                               f"{fmt(*summary([f['precision'] for f in runs]))} | "
                               f"{fmt(*summary([f['recall'] for f in runs]))} |")
    sampler_rows, sampler_table = {}, []
    for fitted in (False, True):
        measured = []
        for seed in SAMPLER.seeds:
            path = run_dir(SAMPLER, "vae", seed)
            try:
                metrics = json.loads((sampler_eval_dir(path, fitted) / "metrics.json").read_text())["metrics"]
            except (OSError, ValueError):
                measured.append(None)
                continue
            measured.append({k: metrics[k]["value"] for k in ("fid", "precision", "recall") if k in metrics})
        key = "fitted mixture" if fitted else "N(0, I) prior"
        runs = [r for r in kept(measured, (old.get("latent_sampler") or {}).get(key)) if r]
        sampler_rows[key] = runs
        if runs:
            sampler_table.append(f"| {'the fitted mixture' if fitted else 'the N(0, I) prior'} | {len(runs)} | "
                                 f"{fmt(*summary([r['fid'] for r in runs]))} | "
                                 f"{fmt(*summary([r['precision'] for r in runs]))} | "
                                 f"{fmt(*summary([r['recall'] for r in runs]))} |")
    OUT.mkdir(parents=True, exist_ok=True)
    data = {"samples": SAMPLES, "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
            "rows": rows, "truncation": sweep, "latent_sampler": sampler_rows}
    (OUT / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    commands = [line for lever in LEVERS for seed in lever.seeds for side in ("without", "with")
                for line in (" ".join(train_command(lever, side, seed)),
                             " ".join(evaluate_command(run_dir(lever, side, seed))))]
    page = ["# Quality levers, each with and without", "",
            "Written by `python benchmarks/levers.py` (resumable). Each lever is measured against the same",
            "model trained without it, on the same data for the same number of steps (the minutes they took",
            "are in brackets: other jobs may have shared the CPU),",
            f"over several seeds; FID, precision and recall are the domain classifier's on {SAMPLES:,} samples",
            "(`keras-gen evaluate RUN --samples N`), mean ± standard deviation over the seeds. A lever is",
            "better when the means differ by more than the two spreads added.", "",
            "| lever | model | dataset | training | seeds (without / with) | FID without | FID with | "
            "recall without | recall with | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|", *(table or ["| (no pair finished yet) |" + " |" * 9]), "",
            "## Truncation", "",
            "The truncation trick (`keras-gen sample --truncation PSI`, `keras-gen evaluate --truncation PSI`) on the",
            f"runs without a lever above (`{base.model}`, {base.epochs * 100} steps), psi 1 being plain samples:", "",
            "| psi | seeds | FID | precision | recall |", "|---|---|---|---|---|",
            *(sweep_table or ["| (not measured yet) | | | | |"]), "",
            "## A VAE's ex-post latent sampler", "",
            f"`{SAMPLER.model}` trained {SAMPLER.epochs * 100} steps per seed, its samples drawn from the prior it was",
            "trained with and from a 10-component mixture of diagonal Gaussians fitted to its codes of the training "
            "images afterwards",
            "(`keras-gen fit-sampler`): the same decoder, two ways to pick its inputs.", "",
            "| latents from | seeds | FID | precision | recall |", "|---|---|---|---|---|",
            *(sampler_table or ["| (not measured yet) | | | | |"]), "",
            "## Commands", "", "```bash", *commands,
            *(line for seed in SAMPLER.seeds for line in (
                " ".join(train_command(SAMPLER, "vae", seed)),
                " ".join(fit_sampler_command(run_dir(SAMPLER, "vae", seed))))),
            *(" ".join(evaluate_command(run_dir(base, "without", seed), psi)) for seed in base.seeds
              for psi in TRUNCATIONS[1:]), "```", ""]
    (OUT / "README.md").write_text("\n".join(page))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plan", action="store_true", help="print the commands and exit")
    p.add_argument("--render", action="store_true", help="only rewrite docs/results/levers")
    p.add_argument("--only", nargs="+", metavar="LEVER", choices=[lever.name for lever in (*LEVERS, SAMPLER)],
                   help="train and measure only these levers")
    args = p.parse_args(argv)
    if args.plan:
        for lever in LEVERS:
            for seed in lever.seeds:
                for side in ("without", "with"):
                    print(" ".join(train_command(lever, side, seed)))
                    print(" ".join(evaluate_command(run_dir(lever, side, seed))))
        return 0
    if not args.render:
        run_all(args.only)
    render()
    return 0


if __name__ == "__main__":
    sys.exit(main())
