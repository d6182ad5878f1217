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


def kill_and_resume(args: list[str], run_dir: Path, export_root: Path, *, kills: int, seed: int = 0,
                    cwd: Path, max_delay: float = 25.0, timeout: float = 600.0) -> dict:
    """Start ``train.py args --run-dir run_dir`` and SIGKILL it ``kills`` times, each restart with
    ``--resume``; then let it finish. Kill moments: random delays, plus the first checkpoint
    write and the export when they can be caught. Returns what happened, per attempt."""
    rng = random.Random(seed)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    attempts = []
    deadline = time.time() + timeout
    plans = ["checkpoint", "export"] + ["random"] * max(0, kills - 2)
    rng.shuffle(plans)
    plans = plans[:kills]
    for attempt in range(kills + 1):
        resume = ["--resume"] if (run_dir / "config.json").exists() else []
        command = [sys.executable, str(TRAIN), *args, "--run-dir", str(run_dir), "--export-dir", str(export_root),
                   *resume]
        before = _latest_epoch(run_dir)
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        plan = plans[attempt] if attempt < len(plans) else "finish"
        killed_at, delay = None, rng.uniform(2.0, max_delay)
        start = time.time()
        while proc.poll() is None and time.time() < deadline:
            elapsed = time.time() - start
            hit = (plan == "random" and elapsed >= delay) or \
                  (plan == "checkpoint" and _writing_checkpoint(run_dir)) or \
                  (plan == "export" and _writing_export(export_root)) or \
                  (plan in ("checkpoint", "export") and elapsed >= 3 * max_delay)  # missed it: kill anyway
            if hit:
                proc.send_signal(signal.SIGKILL)
                killed_at = f"{plan} at {elapsed:.1f} s"
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
sys.exit(main(["export", sys.argv[1], "--export-dir", sys.argv[2]]))
"""


def concurrent_exports(run_dir: Path, export_root: Path, *, n: int, cwd: Path) -> list[subprocess.CompletedProcess]:
    """``n`` ``keras-gen export RUN --export-dir ROOT`` processes started at the same moment (they
    reach the version claim within a fraction of a second of each other, as two trainings of one
    model finishing together do)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    procs = [subprocess.Popen([sys.executable, "-c", EXPORT_SCRIPT, str(run_dir), str(export_root)], cwd=cwd,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results
