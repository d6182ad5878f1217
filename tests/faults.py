"""Fault injection shared by tests/test_reliability.py and benchmarks/faults.py: real training
processes killed with SIGKILL at random moments (and at the moments that matter: mid-checkpoint,
mid-export) and resumed, concurrent exports of one run, hostile requests to an export."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAIN = REPO / "train.py"


def _latest_epoch(run_dir: Path) -> int:
    latest = run_dir / "checkpoints" / "latest.json"
    try:
        return json.loads(latest.read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def _writing_checkpoint(run_dir: Path) -> bool:
    directory = run_dir / "checkpoints"
    return directory.is_dir() and any(p.name.startswith(".epoch-") for p in directory.iterdir())


def _writing_export(export_root: Path) -> bool:
    return export_root.is_dir() and any(p.name.startswith(".staging-") for d in export_root.iterdir() if d.is_dir()
                                        for p in d.iterdir())


def _steps_now(run_dir: Path, pid: int) -> int | None:
    """The steps the process ``pid`` has trained, from its ``progress.json`` (None before it wrote one:
    a file left by a killed predecessor names another pid)."""
    try:
        progress = json.loads((run_dir / "progress.json").read_text())
    except (OSError, ValueError):
        return None
    return progress["steps_trained"] if progress.get("pid") == pid else None


def _latest_steps(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "checkpoints" / "latest.json").read_text())["steps"]
    except (OSError, ValueError, KeyError):
        return 0


def kill_and_resume(args: list[str], run_dir: Path, export_root: Path, *, kills: int, total_steps: int,
                    seed: int = 0, cwd: Path, timeout: float = 600.0) -> dict:
    """Start ``train.py args --run-dir run_dir`` and SIGKILL it ``kills`` times, each restart with
    ``--resume``; then let it finish. Kill moments come from the run's own progress, never from a
    clock, so they mean the same on a laptop, a fast server or a GPU host: a random step between
    the checkpoint resumed from and ``total_steps`` (read from the run's ``progress.json``), the
    first checkpoint write (a ``.epoch-*`` temporary in checkpoints/), and the export (a
    ``.staging-*`` version; also a random kill's moment once training is done). A checkpoint write
    too quick to be seen is taken at the next epoch's step instead. Returns what happened, per attempt."""
    rng = random.Random(seed)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    attempts = []
    deadline = time.time() + timeout
    # The export comes once training is done, so its kill is the last; the others in random order.
    plans = ["checkpoint"] + ["random"] * max(0, kills - 2)
    rng.shuffle(plans)
    plans = (plans[:kills - 1] + ["export"])[:kills]
    for attempt in range(kills + 1):
        resume = ["--resume"] if (run_dir / "config.json").exists() else []
        command = [sys.executable, str(TRAIN), *args, "--run-dir", str(run_dir), "--export-dir", str(export_root),
                   *resume]
        before, resumed_steps = _latest_epoch(run_dir), _latest_steps(run_dir)
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        plan = plans[attempt] if attempt < len(plans) else "finish"
        if plan == "random" and resumed_steps >= total_steps:
            plan = "export"  # training is done (a kill during the export): the export is what is left to hit
        target = rng.randint(resumed_steps + 1, max(resumed_steps + 1, total_steps))  # a random kill's step
        killed_at = None
        while proc.poll() is None and time.time() < deadline:
            steps = _steps_now(run_dir, proc.pid)
            hit = (plan == "random" and steps is not None and steps >= target) or \
                  (plan == "checkpoint" and _writing_checkpoint(run_dir)) or \
                  (plan == "export" and _writing_export(export_root)) or \
                  (plan == "checkpoint" and _latest_epoch(run_dir) > before + 1)  # missed one: kill after the next
            if hit:
                proc.send_signal(signal.SIGKILL)
                killed_at = f"{plan} at step {steps}" if steps is not None else f"{plan} before the first step"
                break
            time.sleep(0.005)
        out, err = proc.communicate(timeout=120)
        attempts.append({"plan": plan, "killed": killed_at, "returncode": proc.returncode, "epoch_before": before,
                         "epoch_after": _latest_epoch(run_dir), "stdout": out, "stderr": err})
        if killed_at is None:
            break
    return {"attempts": attempts, "kills": sum(a["killed"] is not None for a in attempts)}


EXPORT_SCRIPT = r"""
import sys
from keras_gen.cli import main
sys.exit(main(["export", sys.argv[1], "--export-dir", sys.argv[2], "--publish"]))
"""


def concurrent_exports(run_dir: Path, export_root: Path, *, n: int, cwd: Path) -> list[subprocess.CompletedProcess]:
    """``n`` ``keras-gen export RUN --export-dir ROOT --publish`` processes started at the same moment
    (they reach the version claim within a fraction of a second of each other, as two trainings of
    one model finishing together do; --publish: each serves its version unmeasured, the last wins)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    procs = [subprocess.Popen([sys.executable, "-c", EXPORT_SCRIPT, str(run_dir), str(export_root)], cwd=cwd,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results
