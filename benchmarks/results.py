#!/usr/bin/env python
"""What every zoo model reaches in a stated budget, and the reports' claims checked at it.

    python benchmarks/results.py                      # train, evaluate and tabulate; resumable
    python benchmarks/results.py --plan               # the jobs and their commands, nothing run
    python benchmarks/results.py --render             # redraw docs/results/ from what is done
    python benchmarks/results.py --minutes 60 --claim-minutes 15 --root runs/results_gpu --out docs/results_gpu
    python benchmarks/results.py --report-budgets     # each model for its report's epochs (a GPU's job)
    python benchmarks/results.py --dataset fashion_mnist   # the zoo on Fashion-MNIST (docs/results/fashion_mnist)
    python benchmarks/results.py --inception-images 10000  # + the standard FID network's column (a GPU's job)

Every job is plain ``train.py`` with ``--time-limit`` (training steps only: not FID evaluations or a
VAE's validation pass) and an FID every "epoch" of a few hundred steps, then ``keras-gen evaluate``
on the final checkpoint:
the same commands a user runs, printed in ``docs/results/commands.md``. A job whose evaluation
exists is skipped; a killed one is continued with ``--resume`` (training) or redone
(evaluation), so the script can be stopped and started at will. ``docs/results/`` is rewritten
from what is done after every job: ``README.md`` (zoo table and claims), ``results.json``,
``fid_curves.png`` and ``grids/<job>.png``. ``--inception-images N`` adds a second evaluation per
run with the standard FID network (``final_eval_inception/``) and a column beside the domain
classifier's figures; on finished runs it only evaluates, so a GPU host can add it to a CPU's runs.

Jobs:

* ``zoo``: every model whose report's dataset is here (MNIST; with ``--dataset fashion_mnist``,
  the same models on Fashion-MNIST, 28x28 grey like MNIST), at its report's settings, for
  ``--minutes`` of training each. ``acgan`` trains in four stages, evaluated after each, for the
  claim that it learns some classes before others. Not here: ``acwgan`` (Char74K),
  ``vae_faces``, ``dcgan_faces`` and ``gan_faces_dense`` (CelebA): none of their datasets is on
  this machine, and 28x28 grey digits resized to 64-256 px RGB would time the networks without
  saying anything about faces or letters.
* ``claims``: the reports' comparisons that need variants (k discriminator steps, minimax loss,
  mixture prior, latent size), three seeds each (GAN verdicts vary run to run; the VAEs' less, but
  one seed would not say how much), for ``--claim-minutes`` each; the fastest of them also pick
  ``make demo``'s model. MNIST only: the claims are the reports' claims about MNIST.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

from results_zoo import SPEED, ZOO  # the tables results_report.py reads too

REPO = Path(__file__).resolve().parent.parent
EVAL_POINTS = 8  # FID evaluations per budget (an "epoch" is a budget's eighth)

STAGES = {"acgan": 4}  # trained in stages with an evaluation after each (classes learned first)


@dataclasses.dataclass(frozen=True)
class Job:
    name: str
    model: str
    group: str  # "zoo" or "claims"
    seed: int = 0
    options: tuple = ()  # (("d_steps", 5),): train.py --option KEY=VALUE
    latent_dim: int | None = None
    variant: str = "report's settings"

    def minutes(self, args) -> float:
        return args.minutes if self.group == "zoo" else args.claim_minutes


def jobs() -> list[Job]:
    claims = []
    for seed in (0, 1, 2):
        claims += [Job(f"mlp_gan-k1-s{seed}", "mlp_gan", "claims", seed, (("d_steps", 1),), variant="k = 1"),
                   Job(f"mlp_gan-k5-s{seed}", "mlp_gan", "claims", seed, (("d_steps", 5),), variant="k = 5"),
                   Job(f"mlp_gan_wide-ns-s{seed}", "mlp_gan_wide", "claims", seed,
                       (("generator_loss", "non_saturating"),), variant="non-saturating"),
                   Job(f"mlp_gan_wide-minimax-s{seed}", "mlp_gan_wide", "claims", seed,
                       (("generator_loss", "minimax"),), variant="minimax")]
    for seed in (0, 1, 2):  # seed 0 of each VAE variant is the one-seed plan's run, so a resumed plan adds 1 and 2
        claims += [Job(f"vae_mlp-normal-s{seed}", "vae_mlp", "claims", seed, variant="N(0, I) prior"),
                   Job(f"vae_mlp-mog-s{seed}", "vae_mlp", "claims", seed, (("prior_components", 2),),
                       variant="mixture of 2 Gaussians"),
                   Job(f"vae_mlp_2d-z2-s{seed}", "vae_mlp_2d", "claims", seed, latent_dim=2, variant="latent 2"),
                   Job(f"vae_mlp_2d-z16-s{seed}", "vae_mlp_2d", "claims", seed, latent_dim=16, variant="latent 16")]
    return claims + [Job(model, model, "zoo") for model in ZOO]


def dataset_jobs(args) -> list[Job]:
    """The jobs for ``args.dataset``: all of them on MNIST, the zoo on Fashion-MNIST."""
    return [j for j in jobs() if args.dataset == "mnist" or j.group == "zoo"]


# --------------------------------------------------------------------------- running
def python() -> str:
    return sys.executable


def train_command(job: Job, args, *, minutes: float, resume: bool) -> list[str]:
    run_dir = Path(args.root) / job.name
    if resume:  # a report budget's epochs are in its config.json; a time budget's limit is passed again
        return [python(), "train.py", "--resume", "--run-dir", str(run_dir),
                *([] if args.report_budgets else ["--time-limit", f"{minutes:g}"])]
    import models_zoo

    entry = models_zoo.get(job.model)
    # FID every epoch of a time budget (EVAL_POINTS of them); over a report's epochs, about
    # 2 * EVAL_POINTS evaluations (mlp_gan's 200 epochs would otherwise spend half their time in FID).
    every = max(1, round(entry.epochs / (2 * EVAL_POINTS))) if args.report_budgets else 1
    cmd = [python(), "train.py", "--model", job.model, "--dataset", args.dataset, "--seed", str(job.seed),
           "--run-dir", str(run_dir), "--no-export", "--eval-every", str(every), "--eval-samples", "2000"]
    if args.report_budgets:
        cmd += ["--epochs", str(entry.epochs)]
    else:
        k = dict(job.options).get("d_steps") or entry.options().get("d_steps") or entry.options().get("n_critic") or 1
        images = SPEED.get(job.model, 0) * job.minutes(args) * 60 / EVAL_POINTS
        steps = max(20, round(images / (entry.batch_size * k)))
        cmd += ["--epochs", "10000", "--time-limit", f"{minutes:g}"]
        if SPEED.get(job.model):
            cmd += ["--steps-per-epoch", str(steps)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if job.latent_dim is not None:
        cmd += ["--latent-dim", str(job.latent_dim)]
    for key, value in job.options:
        cmd += ["--option", f"{key}={value}"]
    return cmd


def evaluate_command(job: Job, args, out: Path, *, inception: bool = False) -> list[str]:
    """``keras-gen evaluate`` on the run's last checkpoint: with the domain classifier on ``--samples``,
    or (``inception``) with the standard FID network (``--extractor fid-inception``) on
    ``--inception-images`` samples against as many test (and, for the floor, training) images, a
    second evaluation beside the first, so a row keeps its classes covered and gains a figure that
    stands beside published Inception FIDs; its VAE likelihood is the first's (one image here)."""
    n = args.inception_images if inception else args.samples
    options = (["--extractor", "fid-inception", "--iwae-k", "1", "--likelihood-images", "1"] if inception
               else ["--iwae-k", "16", "--likelihood-images", "500"])
    return [str(Path(python()).parent / "keras-gen"), "evaluate", str(Path(args.root) / job.name),
            "--samples", str(n), "--out", str(out), *options, "--kid-subset-size", str(min(1000, n // 2))]


def execute(cmd: list[str], log) -> int:
    """Run a job's command in the repository, its output appended to the open file ``log``: its exit status."""
    return subprocess.call(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})


def run_logged(cmd: list[str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        code = execute(cmd, f)
    if code:
        raise RuntimeError(f"{cmd[1]} exited {code}; see {log}")


def trained_minutes(run_dir: Path) -> float:
    from keras_gen.rundir.history import training_seconds

    return training_seconds(run_dir / "history.csv") / 60


def trained_enough(run_dir: Path, args, minutes: float) -> bool:
    """Whether a started run reached its budget: its report's epochs (the last checkpoint's epoch
    against config.json's) or ``minutes`` of training."""
    if not args.report_budgets:
        return trained_minutes(run_dir) >= minutes
    from keras_gen.rundir.checkpoints import latest_checkpoint

    last = latest_checkpoint(run_dir / "checkpoints")
    epochs = json.loads((run_dir / "config.json").read_text())["epochs"]
    return last is not None and int(last["epoch"]) >= int(epochs)


def run_job(job: Job, args) -> None:
    run_dir = Path(args.root) / job.name
    minutes = job.minutes(args)
    stages = 1 if args.report_budgets else STAGES.get(job.model, 1)
    for stage in range(1, stages + 1):
        out = run_dir / ("final_eval" if stage == stages else f"stage{stage}_eval")
        if (out / "metrics.json").is_file():
            continue
        limit = minutes * stage / stages
        resume = (run_dir / "config.json").is_file()
        if not resume or not trained_enough(run_dir, args, limit):
            run_logged(train_command(job, args, minutes=limit, resume=resume), run_dir.parent / f"{job.name}.log")
        if out.exists():
            shutil.rmtree(out)  # a killed evaluation's leftovers
        run_logged(evaluate_command(job, args, out), run_dir.parent / f"{job.name}.log")
    if args.inception_images and not inception_done(run_dir, args):
        out = run_dir / INCEPTION_EVAL
        if out.exists():
            shutil.rmtree(out)  # a killed evaluation's leftovers, or one on another number of images
        run_logged(evaluate_command(job, args, out, inception=True), run_dir.parent / f"{job.name}.log")


INCEPTION_EVAL = "final_eval_inception"
INCEPTION_MIN = 20  # KID's subsets take half the images; precision/recall need k = 5 neighbours


def inception_done(run_dir: Path, args) -> bool:
    """Whether the run has the standard FID on ``--inception-images`` images (another count is redone:
    FID depends on it)."""
    path = run_dir / INCEPTION_EVAL / "metrics.json"
    if not path.is_file():
        return False
    return json.loads(path.read_text()).get("settings", {}).get("samples") == args.inception_images


def job_done(job: Job, args) -> bool:
    run_dir = Path(args.root) / job.name
    return (run_dir / "final_eval" / "metrics.json").is_file() and (
        not args.inception_images or inception_done(run_dir, args))


# --------------------------------------------------------------------------- collecting
def metric_values(evaluation: dict, field: str) -> dict:
    """``{metric: its "value" (or "floor")}`` from a ``keras-gen evaluate`` metrics.json."""
    return {k: v.get(field) for k, v in evaluation["metrics"].items()}


def read_job(job: Job, args) -> dict | None:
    """The job's row: config, final figures, FID curve; None while it is not finished."""
    from keras_gen.rundir.checkpoints import latest_checkpoint
    from keras_gen.rundir.history import epoch_training_seconds, read_history

    run_dir = Path(args.root) / job.name
    final = run_dir / "final_eval" / "metrics.json"
    if not final.is_file():
        return None
    config = json.loads((run_dir / "config.json").read_text())
    evaluation = json.loads(final.read_text())
    figures, floors = metric_values(evaluation, "value"), metric_values(evaluation, "floor")
    import models_zoo

    entry = models_zoo.get(job.model)
    k = config.get("model_options", {}).get("d_steps") or entry.options().get("d_steps") or \
        entry.options().get("n_critic") or 1
    images_per_step = config["batch_size"] * k
    steps_per_epoch = config.get("steps_per_epoch")
    if not steps_per_epoch:  # whole passes over the training split (--report-budgets): as many as it took
        last = latest_checkpoint(run_dir / "checkpoints")
        steps_per_epoch = last["steps"] // last["epoch"] if last and last.get("epoch") else 0
    curve, seconds, images = [], 0.0, 0
    history = read_history(run_dir / "history.csv")
    for row in history:
        trained = epoch_training_seconds(row)  # training steps only, as --time-limit counts
        seconds += trained if math.isfinite(trained) else 0.0
        images += steps_per_epoch * images_per_step
        fid = float(row["fid"]) if row.get("fid") not in (None, "") else math.nan
        wasserstein = float(row["wasserstein"]) if row.get("wasserstein") not in (None, "") else None
        curve.append({"epoch": int(float(row["epoch"])), "minutes": seconds / 60, "images": images, "fid": fid,
                      "wasserstein": wasserstein})
    stages = []
    for path in sorted(run_dir.glob("stage*_eval/metrics.json")) + [final]:
        data = json.loads(path.read_text())
        stages.append({"class_counts": data.get("class_counts"), "fid": data["metrics"]["fid"]["value"]})
    speeds = [float(r["images_per_sec"]) for r in history[1:] if r.get("images_per_sec")]  # epoch 1 compiles
    inception = None
    if (run_dir / INCEPTION_EVAL / "metrics.json").is_file():
        data = json.loads((run_dir / INCEPTION_EVAL / "metrics.json").read_text())
        inception = {"images": data["settings"]["samples"], "extractor": data["extractor"].get("extractor"),
                     "figures": metric_values(data, "value"), "floors": metric_values(data, "floor")}
    return {"job": job.name, "model": job.model, "group": job.group, "seed": job.seed, "variant": job.variant,
            "family": entry.family, "report": f"{entry.report}, {entry.section}",
            "options": dict(job.options), "latent_dim": config.get("latent_dim"),
            "batch_size": config["batch_size"], "learning_rate": config["optimizer"]["learning_rate"],
            "minutes": seconds / 60, "images_seen": images, "epochs_of_data": images / 60000,
            "images_per_sec": sorted(speeds)[len(speeds) // 2] if speeds else figures.get("images_per_sec"),
            "figures": figures, "floors": floors, "class_counts": evaluation.get("class_counts"),
            "extractor": evaluation.get("extractor", {}).get("extractor"), "curve": curve, "stages": stages,
            "inception": inception,
            "grid": str(run_dir / "samples" / "latest.png"),
            # "python", not this machine's interpreter path: the file is committed
            "train_command": ["python", *train_command(job, args, minutes=job.minutes(args), resume=False)[1:]]}


def wait_while_paused(flag: Path) -> None:
    """Between jobs, wait while ``flag`` exists: speed benchmarks can then have the machine to
    themselves without a job's training time counting the pause."""
    if flag.exists():
        print(f"[{time.strftime('%H:%M:%S')}] paused: remove {flag} to continue", flush=True)
        while flag.exists():
            time.sleep(5)


def finished_rows(args) -> tuple[list[dict], dict]:
    """The finished jobs' rows and the machine they were measured on. A job whose run is not here
    (a fresh clone: runs/ is not committed) keeps its row from ``--out``'s results.json, and so does
    the machine when no row was read from a run, so ``--render`` redraws the pages anywhere."""
    stored_path = Path(args.out) / "results.json"
    stored = json.loads(stored_path.read_text()) if stored_path.is_file() else {}
    kept = {r["job"]: r for r in stored.get("rows", [])}
    rows, measured_here = [], False
    for job in dataset_jobs(args):
        row = read_job(job, args)
        measured_here |= row is not None
        if row is None:
            row = kept.get(job.name)
        if row is not None:
            rows.append(row)
    return rows, (machine() if measured_here or "machine" not in stored else stored["machine"])


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": os.getloadavg()}


def main(argv=None) -> int:
    sys.path.insert(0, str(REPO))
    from keras_gen.cli.args import OneLineParser

    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=3.0, help="training minutes per zoo model (default 3)")
    p.add_argument("--claim-minutes", type=float, default=2.0, help="training minutes per claim run (default 2)")
    p.add_argument("--report-budgets", action="store_true", help="each model for its report's epochs instead")
    p.add_argument("--samples", type=int, default=5000, help="samples per final evaluation (default 5,000)")
    p.add_argument("--inception-images", type=int, default=0,
                   help="also the standard FID network's figures (fid-inception) on this many samples against as "
                        "many test images, beside the domain classifier's; finished runs only gain this evaluation "
                        "(default 0: about 5 images/s on a 2-core CPU, a GPU's job at 10,000)")
    p.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="mnist",
                   help="mnist (the zoo and the claims) or fashion_mnist (the zoo only)")
    p.add_argument("--root", help="run directories (default runs/results, runs/results_fashion_mnist)")
    p.add_argument("--out", help="tables, plots and grids (default docs/results, docs/results/fashion_mnist)")
    p.add_argument("--data-dir", help="the dataset's files (default: train.py's search: data/mnist, ...)")
    p.add_argument("--only", help="comma-separated job names or groups (zoo, claims)")
    p.add_argument("--plan", action="store_true", help="print the jobs' commands and exit")
    p.add_argument("--render", action="store_true", help="only rewrite --out from the finished jobs")
    args = p.parse_args(argv)
    if args.inception_images and args.inception_images < INCEPTION_MIN:
        p.error(f"--inception-images {args.inception_images} is too few for FID and KID: give at least "
                f"{INCEPTION_MIN} (published FIDs use 10,000 or 50,000), or 0 for none")
    mnist = args.dataset == "mnist"
    args.root = args.root or ("runs/results" if mnist else f"runs/results_{args.dataset}")
    args.out = args.out or ("docs/results" if mnist else f"docs/results/{args.dataset}")
    os.chdir(REPO)
    selected = [j for j in dataset_jobs(args)
                if not args.only or j.name in args.only.split(",") or j.group in args.only.split(",")]
    if args.plan:
        for job in selected:
            print(f"{job.name}: {' '.join(train_command(job, args, minutes=job.minutes(args), resume=False)[1:])}")
        return 0
    from results_report import (
        render,  # benchmarks/results_report.py: tables, claims, plots
    )

    if not args.render:
        for job in selected:
            if job_done(job, args):
                continue
            wait_while_paused(Path(args.root) / "PAUSE")
            started = time.time()
            print(f"[{time.strftime('%H:%M:%S')}] {job.name} ...", flush=True)
            try:
                run_job(job, args)
            except RuntimeError as err:
                print(f"  failed: {err}", flush=True)
                continue
            print(f"  done in {(time.time() - started) / 60:.1f} min", flush=True)
            try:  # a bug in the report must not stop the training
                render(*finished_rows(args), args)
            except Exception:
                traceback.print_exc()
    render(*finished_rows(args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
