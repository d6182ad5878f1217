"""``train.py`` as a user runs it: a run directory, resume, Ctrl-C, export, and bad input."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from keras_gen.cli.train import main as train_main

from conftest import REPO, assert_one_line_error, load_in_plain_tensorflow, run, run_in_process

TRAIN = REPO / "train.py"


def history(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def latest(run_dir):
    return json.loads((run_dir / "checkpoints" / "latest.json").read_text())


def steps_trained_by(run_dir, pid) -> int:
    """The steps process ``pid`` reports in the run's progress.json (0 before it wrote one)."""
    try:
        progress = json.loads((run_dir / "progress.json").read_text())
    except (OSError, ValueError):
        return 0
    return progress["steps_trained"] if progress["pid"] == pid else 0


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_mnist_dir):
    """vae_mlp_2d for 1 epoch on 1024 real MNIST images, default run and export locations (cwd)."""
    cwd = tmp_path_factory.mktemp("user")
    proc = run([TRAIN, "--model", "vae_mlp_2d", "--dataset", "mnist", "--data-dir", tiny_mnist_dir, "--epochs", "1",
                "--batch-size", "64"], cwd=cwd, check=True)
    (run_dir,) = (cwd / "runs").iterdir()
    return cwd, run_dir, proc


def test_run_directory_contents(first_run):
    cwd, run_dir, proc = first_run
    assert run_dir.name.startswith("vae_mlp_2d_mnist_")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == "vae_mlp_2d" and config["epochs"] == 1 and config["batch_size"] == 64
    assert config["keras_gen_version"] and config["optimizer"] == {"name": "adam", "learning_rate": 0.001}
    rows = history(run_dir)
    assert [r["epoch"] for r in rows] == ["1"]  # epochs count from 1, as everywhere else
    assert float(rows[0]["images_per_sec"]) > 0 and float(rows[0]["loss"]) > 0 and "val_loss" in rows[0]
    grid = tf.io.decode_png(tf.io.read_file(str(run_dir / "samples" / "epoch_0001.png")))
    assert grid.shape[:2] == (8 * 29 - 1, 8 * 29 - 1)  # 8x8 grid of 28x28 with 1-pixel gutters
    assert (run_dir / "samples" / "latest.png").is_file() and (run_dir / "loss_curves.png").is_file()
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    info = latest(run_dir)
    assert info["epoch"] == 1 and info["steps"] == 1024 // 64 and info["config"]["model"] == "vae_mlp_2d"
    assert (run_dir / "checkpoints" / "epoch-0001.keras").is_file()
    progress = json.loads((run_dir / "progress.json").read_text())  # the epoch's last step is always written
    assert {k: progress[k] for k in ("epoch", "epochs", "step", "steps_per_epoch", "steps_trained")} == \
        {"epoch": 1, "epochs": 1, "step": 16, "steps_per_epoch": 16, "steps_trained": 16}
    assert progress["images_per_sec"] > 0 and progress["pid"] != os.getpid()
    export = cwd / "saved_models" / "vae_mlp_2d_mnist" / "1"
    assert (export / "saved_model.pb").is_file() and (export / "assets" / "keras_gen.json").is_file()
    assert str(export) in proc.stdout and "samples/latest.png" in proc.stdout
    # The README's make-demo block opens with the publishing line a first export prints.
    readme = (REPO / "README.md").read_text().split("`make demo` prints whether the export is served", 1)[1]
    assert readme.split("```\n", 2)[1].splitlines()[0] in proc.stdout.splitlines(), proc.stdout
    assert not [p for p in run_dir.rglob(".*") if p.is_file()]  # no temporary files left behind
    umask = os.umask(0)
    os.umask(umask)
    for path in ("config.json", "progress.json", "history.csv", "loss_curves.png", "samples/latest.png",
                 "checkpoints/latest.json",
                 "checkpoints/epoch-0001.keras"):  # written atomically, yet as readable as any file
        assert (run_dir / path).stat().st_mode & 0o777 == 0o666 & ~umask, path


def test_resume_extends_the_run(first_run, tiny_mnist_dir, default_slot_cache):
    cwd, run_dir, _ = first_run
    proc = run_in_process([TRAIN, "--resume", "--model", "vae_mlp_2d", "--epochs", "2"], cwd=cwd, check=True,
                          env={"KERAS_GEN_CACHE": str(default_slot_cache)})
    assert "resuming from epoch 1 (step 16)" in proc.stdout
    # The second version is measured beside the first (served) one, and served if it is not worse.
    decision = next(line for line in proc.stdout.splitlines() if line.startswith("vae_mlp_2d_mnist version 2 "))
    assert "on 2,000 samples" in decision and "the served version 1's" in decision, decision
    rows = history(run_dir)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    info = latest(run_dir)
    assert info["epoch"] == 2 and info["steps"] == 32  # the optimizer's step count carried on
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    assert (cwd / "saved_models" / "vae_mlp_2d_mnist" / "2" / "saved_model.pb").is_file()
    # The export of the resumed run is served by plain TensorFlow.
    loaded = load_in_plain_tensorflow(cwd / "saved_models" / "vae_mlp_2d_mnist" / "2")
    (info,) = loaded.values()
    assert not info["keras_gen_imported"] and np.array(info["sample"]).shape == (4, 28, 28, 1)


def test_ctrl_c_keeps_the_last_checkpoint_and_resume_continues(tmp_path, tiny_mnist_dir):
    run_dir = tmp_path / "gan"
    args = [sys.executable, str(TRAIN), "--model", "mlp_gan_wide", "--data-dir", str(tiny_mnist_dir), "--epochs",
            "500", "--batch-size", "32", "--run-dir", str(run_dir), "--export-dir", str(tmp_path / "exports")]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not (run_dir / "checkpoints" / "epoch-0002.keras").exists():
            time.sleep(0.2)
        assert (run_dir / "checkpoints" / "epoch-0002.keras").exists(), proc.stderr.read() if proc.poll() else "slow"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted: the last complete checkpoint is epoch" in out
    assert "Traceback" not in err
    epoch = latest(run_dir)["epoch"]
    assert epoch >= 2
    assert not list((run_dir / "checkpoints").glob(".*"))  # an interrupted save leaves no temp file
    assert not (tmp_path / "exports").exists()  # nothing exported from an interrupted run
    resumed = run_in_process([TRAIN, "--resume", "--run-dir", run_dir, "--epochs", str(epoch + 1)], cwd=tmp_path,
                             check=True)
    assert f"resuming from epoch {epoch}" in resumed.stdout
    assert [int(r["epoch"]) for r in history(run_dir)] == list(range(1, epoch + 2))
    assert latest(run_dir)["steps"] == (epoch + 1) * (1024 // 32)


def test_unknown_model_is_one_line_exit_2(tmp_path):
    proc = run_in_process([TRAIN, "--model", "dcgann"], cwd=tmp_path)
    assert_one_line_error(proc, "unknown model 'dcgann'", "dcgan", "--list-models")
    assert not (tmp_path / "runs").exists()


def test_missing_data_dir_never_downloads(tmp_path):
    proc = run_in_process([TRAIN, "--model", "vae_mlp_2d", "--data-dir", tmp_path / "nope"], cwd=tmp_path)
    assert_one_line_error(proc, "--data-dir", "does not exist")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, needles", [
    (["--model", "vae_mlp_2d", "--dataset", "imagenet"], ["unknown dataset 'imagenet'", "mnist"]),
    (["--model", "vae_mlp_2d", "--epochs", "0"], ["--epochs", "positive integer"]),
    (["--model", "vae_mlp_2d", "--batch-size", "-3"], ["--batch-size", "positive integer"]),
    (["--model", "vae_mlp_2d", "--lr", "abc"], ["--lr", "positive number"]),
    (["--model", "vae_mlp_2d", "--strategy", "tpu"], ["--strategy"]),
    (["--model", "dcgan", "--image-size", "30"], ["multiples of 4"]),
    (["--model", "vae_mlp_2d", "--resume"], ["--resume", "no run of vae_mlp_2d"]),
    (["--resume", "--run-dir", "nowhere"], ["nowhere is not a run directory"]),
    (["--epochs", "3"], ["--model is required"]),
    (["--model", "mlp_gan", "--option", "d_step=2"], ["does not take d_step", "d_steps"]),
    (["--model", "mlp_gan", "--option", "latent_dim=2"], ["--latent-dim sets it"]),
    (["--model", "mlp_gan", "--option", "d_steps"], ["--option", "KEY=VALUE"]),
    (["--model", "mlp_gan_wide", "--option", "generator_loss=hinge"], ["generator_loss must be"]),
    (["--model", "vae_mlp_2d", "--time-limit", "0"], ["--time-limit", "positive number"]),
])
def test_bad_arguments(args, needles, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        train_main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "saved_models").exists()


@pytest.mark.parametrize("content, needles", [
    (None, ["cannot read --config", "configs/"]),
    ("{not json", ["is not valid JSON"]),
    ("[1, 2]", ["must hold a JSON object", "list"]),
    ('{"model": "vae_mlp", "epoch": 3}', ["unknown config key 'epoch'", "did you mean 'epochs'"]),
    ('{"model": "vae_mlp", "batch_size": 0}', ["--batch-size must be a positive integer"]),
    ('{"model": "vae_mlp", "sampler_covariance": "spherical"}',
     ["--sampler-covariance must be one of full, diag, got 'spherical'"]),
])
def test_bad_recipes(content, needles, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = tmp_path / "recipe.json"
    if content is not None:
        recipe.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--config", str(recipe)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err
    assert not (tmp_path / "runs").exists()


def test_a_runs_config_is_a_recipe_and_flags_override_it(first_run, tiny_mnist_dir, tmp_path, capsys, monkeypatch):
    """train.py --config RUN/config.json trains the same setup again (a new run directory, the
    machine's data); a flag beside it wins; --resume with it is refused."""
    _, source, _ = first_run
    monkeypatch.chdir(tmp_path)
    again = tmp_path / "again"
    assert train_main(["--config", str(source / "config.json"), "--steps-per-epoch", "2", "--lr", "0.002",
                       "--run-dir", str(again), "--data-dir", str(tiny_mnist_dir), "--no-export"]) == 0
    before, after = (json.loads((d / "config.json").read_text()) for d in (source, again))
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"run_dir", "steps_per_epoch", "optimizer", "export"}, changed
    assert after["optimizer"] == {**before["optimizer"], "learning_rate": 0.002}
    assert latest(again)["steps"] == before["epochs"] * 2  # the recipe's epochs (the earlier resume made them 2)
    with pytest.raises(SystemExit):
        train_main(["--config", str(source / "config.json"), "--resume", "--run-dir", str(again)])
    assert "--config starts a new run and --resume continues one" in capsys.readouterr().err


def test_the_recipes_in_configs_resolve_and_quote_their_measurements():
    """Every configs/*.json is a valid recipe whose model, dataset and epochs are those of its
    docs/results/papers row, and configs/README.md quotes that row's FID."""
    from keras_gen.config import read_recipe, resolve_config

    papers = json.loads((REPO / "docs" / "results" / "papers" / "results.json").read_text())
    rows = {r["row"]: r for r in papers["rows"]}
    table = (REPO / "configs" / "README.md").read_text()
    recipes = sorted((REPO / "configs").glob("*.json"))
    assert recipes
    for path in recipes:
        recipe = read_recipe(path)
        config = resolve_config(recipe.pop("model"), **recipe)
        row = rows[path.stem]
        assert (config.model, config.dataset, config.epochs) == (row["model"], row["dataset"], row["epochs"])
        assert config.latent_sampler == row.get("sampler")  # the row's levers are the recipe's
        if row.get("sampler"):
            assert config.sampler_covariance == row["covariance"]
        options = row.get("options", [])
        ema = float(options[options.index("--ema") + 1]) if "--ema" in options and not row.get("raw") else None
        assert config.ema == ema  # a row measured through the trained generator recipes it without the average
        line = next(line for line in table.splitlines() if f"[`{path.name}`]" in line)
        fid = row["result"]["fid"]
        figure = f"{fid:,.0f}" if fid >= 100 else f"{fid:.3g}"
        assert line.endswith((f"| {figure} |", f"| **{figure}** |")), line  # bold: its cell's best
        notes = json.loads(path.read_text())
        assert f"FID {fid:.3g}" in notes["_measured"] and notes["_machine"]
        # A first look at a recipe (--epochs 1) must not replace a shipped model: its export is served
        # only if it measures at least as well (the default), whatever papers.py passed to train the row.
        assert "publish" not in notes and config.publish == "auto"


def test_corrupt_data_file(tmp_path, tiny_mnist_dir, capsys, monkeypatch):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_mnist_dir, broken)
    images = broken / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[: len(images.read_bytes()) // 2])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--model", "vae_mlp_2d", "--data-dir", str(broken)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train-images-idx3-ubyte.gz" in err and "download the file again" in err
    assert not (tmp_path / "runs").exists()


def test_unwritable_run_dir(tmp_path, tiny_mnist_dir, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--model", "vae_mlp_2d", "--data-dir", str(tiny_mnist_dir), "--run-dir", str(blocker / "run"),
                    "--export-dir", str(tmp_path / "exports")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot write run directory" in err
    assert not (tmp_path / "exports").exists()


def test_run_dir_holding_a_run_is_not_overwritten(first_run, capsys):
    _, run_dir, _ = first_run
    with pytest.raises(SystemExit):
        train_main(["--model", "vae_mlp_2d", "--run-dir", str(run_dir)])
    assert "already holds a run; pass --resume" in capsys.readouterr().err


def test_resume_rejects_changing_the_model_setup(first_run, capsys):
    _, run_dir, _ = first_run
    with pytest.raises(SystemExit):
        train_main(["--resume", "--run-dir", str(run_dir), "--batch-size", "8"])
    err = capsys.readouterr().err
    assert "cannot change batch-size when resuming" in err and "(it was 64, got 8)" in err


def test_resume_accepts_the_runs_own_values(first_run, capsys):
    """A user re-runs the previous command with --resume added: repeating a value is no change."""
    cwd, run_dir, _ = first_run
    assert train_main(["--resume", "--run-dir", str(run_dir), "--model", "vae_mlp_2d", "--dataset", "mnist",
                       "--batch-size", "64", "--lr", "0.001", "--epochs", "1"]) == 0
    assert "already trained" in capsys.readouterr().out  # the module's earlier test extended it


def test_list_models_and_datasets(capsys):
    assert train_main(["--list-models"]) == 0
    out = capsys.readouterr().out
    assert "dcgan" in out and "Junnuthula (002) §3.1.2" in out and "mnist 28x28x1" in out
    assert train_main(["--list-datasets"]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and "data/mnist" in out


def test_summary_prints_every_sub_network_with_report_counts(capsys):
    assert train_main(["--model", "dcgan", "--summary"]) == 0
    out = capsys.readouterr().out
    assert "Junnuthula" in out
    assert "2,330,944" in out and "2,305,472" in out and "25,472" in out and "4,305,409" in out


@pytest.mark.slow  # about 30 s of two processes; make test-slow runs it
def test_ctrl_c_in_the_first_epoch_prints_a_command_that_works(tmp_path, tiny_mnist_dir):
    """Interrupted before any checkpoint: the printed command (with this environment's Python)
    continues the run from epoch 1 instead of failing with 'has no checkpoint'."""
    run_dir = tmp_path / "gan"
    args = [sys.executable, str(TRAIN), "--model", "mlp_gan_wide", "--data-dir", str(tiny_mnist_dir), "--epochs", "1",
            "--batch-size", "32", "--steps-per-epoch", "100000", "--run-dir", str(run_dir), "--no-export"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # lines arrive as printed
    try:
        seen = []
        for line in proc.stdout:  # the run's summary line comes just before fit starts
            seen.append(line)
            if line.startswith("run directory:"):
                break
        deadline = time.time() + 300  # a bound for a hung run, not the moment: that is the run's own progress
        while time.time() < deadline and not steps_trained_by(run_dir, proc.pid):
            time.sleep(0.05)
        assert steps_trained_by(run_dir, proc.pid), "the run never reported a trained step"  # inside the first epoch
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        out = "".join(seen) + out
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (hint,) = [line for line in out.splitlines() if line.startswith("interrupted:")]
    assert "no epoch completed, so it starts again from epoch 1" in hint
    command = hint.split("continue with: ")[1]
    assert command.startswith(f"{Path(sys.executable).relative_to(REPO)} {TRAIN} --resume --run-dir ")
    resumed = subprocess.run(command.split() + ["--steps-per-epoch", "2"], cwd=REPO, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert latest(run_dir)["epoch"] == 1 and latest(run_dir)["steps"] == 2


def test_time_limit_stops_the_run_and_resume_extends_it(tmp_path, tiny_mnist_dir):
    """--time-limit counts training time over sessions: a resumed run with the same limit trains
    nothing more (and says so), a larger one continues; builder options reach the model."""
    run_dir = tmp_path / "run"
    base = [TRAIN, "--data-dir", tiny_mnist_dir, "--run-dir", run_dir, "--no-export"]
    first = run_in_process([*base, "--model", "mlp_gan", "--option", "d_steps=2", "--batch-size", "32",
                            "--steps-per-epoch", "4", "--epochs", "1000", "--time-limit", "0.05"], cwd=tmp_path,
                           check=True)
    rows = history(run_dir)
    assert f"time limit reached: stopped after epoch {len(rows)} of 1000, " in first.stdout  # why it ended early
    seconds = [float(r["train_seconds"]) for r in rows]
    # stopped at the epoch reaching 3 s
    assert 1 <= len(rows) < 1000 and sum(seconds) >= 3.0 and sum(seconds[:-1]) < 3.0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model_options"] == {"d_steps": 2} and config["time_limit"] == 0.05
    assert latest(run_dir)["steps"] == 4 * len(rows)
    again = run_in_process([*base, "--resume", "--time-limit", "0.05"], cwd=tmp_path, check=True)
    assert ("already trained" in again.stdout and "(--time-limit 0.05)" in again.stdout
            and len(history(run_dir)) == len(rows))
    # 3 s past what it has trained (a slow machine's first epoch may be long)
    more_limit = f"{sum(seconds) / 60 + 0.05:.6f}"
    more = run_in_process([*base, "--resume", "--time-limit", more_limit], cwd=tmp_path, check=True)
    assert f"resuming from epoch {len(rows)}" in more.stdout
    # Against the limit as passed: rounding it to fewer digits once made this fail by milliseconds.
    assert sum(float(r["train_seconds"]) for r in history(run_dir)) >= float(more_limit) * 60 - 1e-6
    assert len(history(run_dir)) > len(rows)


def test_time_limit_counts_training_steps_not_validation():
    """A slow validation pass (a VAE validates on the test split every epoch) is in
    ``epoch_seconds`` but not in ``train_seconds``, and --time-limit's callback counts the latter:
    a model that validates gets as much training as one that does not."""
    import keras

    from keras_gen.training.callbacks import Throughput, TimeLimit

    class SlowValidation(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            time.sleep(0.5)

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((64, 4), np.float32)
    model.fit(x, x[:, :1], batch_size=16, epochs=1, verbose=0)  # traced: epochs below are fast
    throughput, limit = Throughput(16), TimeLimit(1.0)
    history = model.fit(x, x[:, :1], batch_size=16, epochs=10, verbose=0, validation_data=(x, x[:, :1]),
                        callbacks=[SlowValidation(), throughput, limit])
    epochs = len(history.history["loss"])
    train, whole = history.history["train_seconds"], history.history["epoch_seconds"]
    assert all(w >= t + 0.5 for t, w in zip(train, whole))  # the sleep is in the epoch, not in training
    assert epochs == 10 or sum(train) >= 1.0 > sum(train[:-1])  # a second of training steps
    # Whatever this machine's speed (the real run above may stop at its second epoch on a loaded
    # one): fed epochs of 0.3 s of training in 10 s, it stops at the fourth, not the first.
    stopper = TimeLimit(1.0)
    stopper.set_model(model)
    model.stop_training = False
    for epoch in range(4):
        assert not model.stop_training
        stopper.on_epoch_end(epoch, {"train_seconds": 0.3, "epoch_seconds": 10.0})
    assert model.stop_training


def test_the_learning_rate_has_one_home():
    """--lr lives in the optimizer's spec only (it was also a field, re-synced by hand); a
    config.json written with both still loads."""
    from keras_gen.config import RunConfig, resolve_config
    from keras_gen.utils.errors import UserError

    config = resolve_config("mlp_gan", learning_rate=0.01)
    saved = config.to_dict()
    assert "learning_rate" not in saved and saved["optimizer"]["learning_rate"] == 0.01 == config.learning_rate
    slower = config.replace(learning_rate=0.001)  # --resume --lr 0.001 after a divergence
    assert slower.optimizer["learning_rate"] == 0.001 and config.optimizer["learning_rate"] == 0.01
    assert RunConfig.from_dict({**saved, "learning_rate": 0.002}).learning_rate == 0.002
    assert RunConfig.from_dict(json.loads(config.to_json())) == config
    with pytest.raises(UserError, match="--lr must be positive"):
        resolve_config("mlp_gan", learning_rate=-1.0)


def test_a_config_json_from_before_full_covariances_keeps_its_diagonal_sampler():
    """A run's config.json lists every field (to_json), so one without sampler_covariance was written
    when the sampler was always diagonal: it loads (and resumes) as "diag". A hand-written recipe
    without the field gets today's default, full covariances."""
    from keras_gen.config import RunConfig, resolve_config

    config = resolve_config("vae_small", latent_sampler=10)
    assert config.sampler_covariance == "full"
    older = {k: v for k, v in json.loads(config.to_json()).items() if k != "sampler_covariance"}
    assert RunConfig.from_dict(older) == config.replace(sampler_covariance="diag")
    older.pop("keras_gen_version")
    assert RunConfig.from_dict(older) == config


# The finalizer's KeyboardInterrupt is "ignored" by Python, which is the case under test; pytest would
# report it as a warning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_lost_in_a_finalizer_still_stops_training():
    """Python swallows a KeyboardInterrupt raised inside __del__; the guard raises it again at the
    next step's end, so fit stops (a loaded machine once trained on for two minutes after Ctrl-C)."""
    from keras_gen.training.callbacks import InterruptGuard

    previous = signal.getsignal(signal.SIGINT)

    class Finalizer:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # handled here, inside __del__: "Exception ignored in"
            for _ in range(1000):  # Python runs the handler at the next bytecodes
                pass

    with InterruptGuard() as guard:
        Finalizer()  # collected at once: the KeyboardInterrupt is swallowed
        assert guard.pending
        with pytest.raises(KeyboardInterrupt):
            guard.on_train_batch_end(0)
    assert signal.getsignal(signal.SIGINT) is previous  # restored after fit


def test_the_summary_line_counts_epochs_in_english():
    from keras_gen.config import resolve_config

    assert ", 1 epoch, batch " in resolve_config("vae_mlp_2d", epochs=1).summary()
    assert ", 2 epochs, batch " in resolve_config("vae_mlp_2d", epochs=2).summary()
