"""Nothing is lost: concurrent exports, runs killed at any moment, diverging training, a full
disk, damaged checkpoints and hostile requests to an export (real processes, real files)."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, assert_one_line_error, load_in_plain_tensorflow, run, run_in_process
from faults import concurrent_exports, kill_and_resume

TRAIN = REPO / "train.py"


def history_epochs(run_dir: Path) -> list[int]:
    import csv

    with open(run_dir / "history.csv", newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def latest(run_dir: Path) -> dict:
    return json.loads((run_dir / "checkpoints" / "latest.json").read_text())


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_mnist_dir):
    """vae_mlp_2d, 2 epochs on 1,024 real MNIST images, not exported."""
    cwd = tmp_path_factory.mktemp("reliability")
    run_dir = cwd / "run"
    run_in_process([TRAIN, "--model", "vae_mlp_2d", "--data-dir", tiny_mnist_dir, "--epochs", "2", "--batch-size",
                    "64", "--run-dir", run_dir, "--no-export"], cwd=cwd, check=True)
    return cwd, run_dir


# ------------------------------------------------------------------ exports that never collide
def _claim_versions(directory, count, out):
    from keras_gen.utils.fileio import new_version_dir

    for _ in range(count):
        with new_version_dir(directory) as (tmp, published):
            (tmp / "payload").write_text(str(os.getpid()))
        out.put(published[0].name)


def test_version_claims_never_collide_across_processes(tmp_path):
    queue = multiprocessing.get_context("fork").Queue()
    workers = [multiprocessing.get_context("fork").Process(target=_claim_versions, args=(tmp_path, 5, queue))
               for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    names = sorted(int(queue.get(timeout=5)) for _ in range(30))
    assert names == list(range(1, 31))  # 30 versions, every number once
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(map(str, names))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".staging-")]


def test_stale_staging_of_a_dead_process_is_removed(tmp_path):
    from keras_gen.utils.fileio import new_version_dir

    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now names no process
    stale = tmp_path / f".staging-{dead.pid}-abc"
    stale.mkdir()
    with new_version_dir(tmp_path) as (tmp, published):
        assert not stale.exists()
    assert published[0].name == "1"


def test_three_exports_at_once_each_get_a_version(trained_run, tmp_path):
    cwd, run_dir = trained_run
    root = tmp_path / "saved_models"
    results = concurrent_exports(run_dir, root, n=3, cwd=cwd)
    for proc in results:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
    model_dir = root / "vae_mlp_2d_mnist"
    assert sorted(p.name for p in model_dir.iterdir() if not p.name.startswith(".")) == ["1", "2", "3"]
    assert not [p for p in model_dir.iterdir() if p.name.startswith(".staging-")]
    config = (root / "models.config").read_text()
    assert config.count("name: \"vae_mlp_2d_mnist\"") == 1 and str(model_dir.resolve()) in config
    loaded = load_in_plain_tensorflow(*(model_dir / v for v in ("1", "2", "3")))
    samples = [np.array(info["sample"]) for info in loaded.values()]
    np.testing.assert_allclose(samples[0], samples[2], atol=1e-6)  # the same checkpoint, three times


# ------------------------------------------------------------------ killed at any moment
def test_random_kills_lose_nothing(tmp_path, tiny_mnist_dir):
    """SIGKILL at random steps, mid-checkpoint and mid-export; each restart resumes. The step
    count and history continue exactly, at most the interrupted epoch is redone, the export loads."""
    run_dir, root = tmp_path / "run", tmp_path / "saved_models"
    epochs, steps_per_epoch = 4, 1024 // 16
    args = ["--model", "vae_mlp_2d", "--data-dir", str(tiny_mnist_dir), "--epochs", str(epochs), "--batch-size", "16",
            "--steps-per-execution", "1"]
    # Three kills, one of each kind of moment (a random step, a checkpoint write, the export): each
    # restart costs a TensorFlow start, and more random kills add restarts, not kinds of moment.
    result = kill_and_resume(args, run_dir, root, kills=3, total_steps=epochs * steps_per_epoch, seed=3, cwd=tmp_path)
    attempts = result["attempts"]
    assert result["kills"] == 3, [a["killed"] for a in attempts]
    assert {"checkpoint", "export"} <= {a["plan"] for a in attempts[:3]}  # (a late random kill hits the export)
    final = attempts[-1]
    assert final["returncode"] == 0, final["stderr"][-3000:]
    for previous, attempt in zip(attempts, attempts[1:]):
        if previous["epoch_after"]:  # resumed from the newest complete checkpoint the kill left
            assert f"resuming from epoch {previous['epoch_after']} " in attempt["stdout"], attempt["stdout"][-2000:]
    record = latest(run_dir)
    assert record["epoch"] == epochs and record["steps"] == epochs * steps_per_epoch
    assert history_epochs(run_dir) == list(range(1, epochs + 1))
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]  # no torn files left
    versions = [p for p in (root / "vae_mlp_2d_mnist").iterdir() if not p.name.startswith(".")]
    assert versions and not [p for p in (root / "vae_mlp_2d_mnist").iterdir() if p.name.startswith(".staging-")]
    newest = max(versions, key=lambda p: int(p.name))
    assert json.loads((newest / "assets" / "keras_gen.json").read_text())["steps_trained"] == epochs * steps_per_epoch
    (info,) = load_in_plain_tensorflow(newest).values()
    assert np.isfinite(np.array(info["sample"])).all()


def test_a_damaged_checkpoint_falls_back_to_the_previous_one(trained_run, tmp_path):
    _, source = trained_run
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    damaged = run_dir / "checkpoints" / "epoch-0002.keras"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # as a full disk would leave it
    proc = run_in_process([TRAIN, "--resume", "--run-dir", run_dir, "--epochs", "3", "--no-export"], cwd=tmp_path,
                          check=True)
    assert "epoch-0002.keras cannot be read" in proc.stdout and "using the one before it" in proc.stdout
    assert "resuming from epoch 1 " in proc.stdout
    assert latest(run_dir)["epoch"] == 3 and latest(run_dir)["steps"] == 3 * (1024 // 64)
    assert history_epochs(run_dir) == [1, 2, 3]


# ------------------------------------------------------------------ divergence
def test_a_diverging_run_stops_keeps_the_last_finite_checkpoint_and_exports_nothing(trained_run, tmp_path):
    _, source = trained_run
    run_dir, root = tmp_path / "run", tmp_path / "saved_models"
    shutil.copytree(source, run_dir)
    before = latest(run_dir)
    proc = run([TRAIN, "--resume", "--run-dir", run_dir, "--epochs", "6", "--lr", "10", "--export-dir", root],
               cwd=tmp_path)
    line = assert_one_line_error(proc, "training diverged at epoch 3", "kept the last finite checkpoint (epoch 2)",
                                 "exported nothing", "lower --lr")
    assert "step" in line
    assert latest(run_dir) == before  # nothing written past the last finite checkpoint
    assert history_epochs(run_dir) == [1, 2]
    assert not root.exists()
    from keras_gen.rundir.checkpoints import load_checkpoint

    assert load_checkpoint(run_dir / "checkpoints" / "epoch-0002.keras").non_finite_weights() == []
    # The hint works: resumed with a sane learning rate, the run goes on from epoch 2.
    resumed = run_in_process([TRAIN, "--resume", "--run-dir", run_dir, "--epochs", "3", "--lr", "0.001",
                              "--export-dir", root], cwd=tmp_path, check=True)
    assert "resuming from epoch 2 " in resumed.stdout and latest(run_dir)["epoch"] == 3


def test_export_refuses_non_finite_weights(tmp_path):
    from keras_gen.export.saved_model import export_model
    from keras_gen.rundir.checkpoints import load_checkpoint
    from keras_gen.utils.errors import UserError

    model = load_checkpoint(REPO / "tests" / "fixtures" / "checkpoints_v0_1" / "gan.keras")
    model.generator.weights[0].assign(np.full(model.generator.weights[0].shape, np.nan, "float32"))
    with pytest.raises(UserError, match="non-finite weights"):
        export_model(model, tmp_path, model_name="gan", dataset="x", steps=1)
    assert not list(tmp_path.rglob("saved_model.pb"))


# ------------------------------------------------------------------ a full disk
@pytest.fixture
def small_disk(tmp_path):
    """A size-limited tmpfs (root only; CI runs as root), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()

    def make(size_mb: int) -> Path:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs to fill ({proc.stderr.strip()}): needs root")
        return mount

    yield make
    subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(trained_run, small_disk, tmp_path):
    _, source = trained_run
    disk = small_disk(20)  # one vae_mlp_2d checkpoint (12.8 MB) fits, a second does not
    run_dir = disk / "run"
    shutil.copytree(source, run_dir, ignore=shutil.ignore_patterns("epoch-0001.*", "tensorboard"))
    proc = run([TRAIN, "--resume", "--run-dir", run_dir, "--epochs", "4", "--no-export"], cwd=tmp_path)
    assert_one_line_error(proc, "no space left on the device writing", "epoch-0003.keras", "MB free",
                          "previous checkpoint is intact")
    assert latest(run_dir)["epoch"] == 2
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]
    from keras_gen.rundir.checkpoints import load_checkpoint

    assert load_checkpoint(run_dir / "checkpoints" / "epoch-0002.keras").steps_trained == 2 * (1024 // 64)


def test_a_full_disk_during_the_export_is_one_line_and_resume_exports(trained_run, small_disk, tmp_path):
    _, source = trained_run
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    disk = small_disk(2)  # a vae_mlp_2d SavedModel takes about 4.5 MB
    proc = run([TRAIN, "--resume", "--run-dir", run_dir, "--epochs", "2", "--export", "--export-dir", disk],
               cwd=tmp_path)
    assert_one_line_error(proc, "no space left on the device writing", "vae_mlp_2d_mnist", "MB free", "--export-dir")
    assert not list(disk.rglob("saved_model.pb")) and not list(disk.rglob(".staging-*"))
    # A run whose export failed is finished by resuming it with room to export.
    done = run_in_process([TRAIN, "--resume", "--run-dir", run_dir, "--epochs", "2", "--export", "--export-dir",
                           tmp_path / "big"], cwd=tmp_path, check=True)
    assert "already trained 2 epochs" in done.stdout and "SavedModel:" in done.stdout
    assert (tmp_path / "big" / "vae_mlp_2d_mnist" / "1" / "saved_model.pb").is_file()


# ------------------------------------------------------------------ hostile requests
@pytest.fixture(scope="module")
def hostile_exports(tmp_path_factory):
    """Exports of the v0.1 fixture checkpoints: a VAE (8x8, latent 3) and an AC-GAN (3 classes)."""
    from keras_gen.export.saved_model import export_model
    from keras_gen.rundir.checkpoints import load_checkpoint

    root = tmp_path_factory.mktemp("hostile")
    paths = {}
    for name in ("vae_mixture", "acgan"):
        model = load_checkpoint(REPO / "tests" / "fixtures" / "checkpoints_v0_1" / f"{name}.keras")
        paths[name] = export_model(model, root, model_name=name, dataset="x", steps=1)
    return paths


def refused(call, *needles):
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        call()
    for needle in needles:
        assert needle in info.value.message, info.value.message


def test_hostile_requests_to_the_signatures_are_refused_clearly(hostile_exports):
    vae = tf.saved_model.load(str(hostile_exports["vae_mixture"]))
    meta = json.loads((hostile_exports["vae_mixture"] / "assets" / "keras_gen.json").read_text())
    cap = meta["max_batch"]
    assert cap == 4096
    sample = vae.signatures["sample"]
    assert sample(seed=tf.zeros([0], tf.int32))["images"].shape == (0, 8, 8, 1)  # an empty batch is an empty answer
    refused(lambda: sample(seed=tf.range(100_000)), f"max_batch={cap}")
    refused(lambda: vae.signatures["generate"](z=tf.constant([[0.0, np.nan, 0.0]])), "z holds NaN")
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError), match=r"shape|cast"):
        vae.signatures["generate"](z=tf.zeros([1, 5]))  # the signature is [None, 3]
    refused(lambda: vae.signatures["encode"](images=tf.fill([1, 8, 8, 1], 2.0)), "images must be in [0, 1]")
    refused(lambda: vae.signatures["reconstruct"](images=tf.fill([1, 8, 8, 1], np.inf)), "images holds NaN")
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError), match=r"shape|cast"):
        vae.signatures["encode"](images=tf.zeros([1, 28, 28, 1]))
    gan = tf.saved_model.load(str(hostile_exports["acgan"]))
    refused(lambda: gan.signatures["sample"](seed=tf.constant([1]), label=tf.constant([3])), "label must be in [0, 3)")
    refused(lambda: gan.signatures["discriminate"](images=tf.fill([1, 8, 8, 1], -0.5), label=tf.constant([0])),
            "images must be in [0, 1]")
    # Still serving after every refusal.
    assert sample(seed=tf.constant([1, 2]))["images"].shape == (2, 8, 8, 1)


def test_the_python_runtime_chunks_large_batches_and_names_refusals(hostile_exports):
    from keras_gen.serving.runtime import load_export
    from keras_gen.utils.errors import UserError

    export = load_export(hostile_exports["vae_mixture"])
    images = export.sample(np.arange(5000))  # over max_batch: sent in two requests
    np.testing.assert_allclose(images[4200:4203], export.sample([4200, 4201, 4202]), atol=1e-6)
    with pytest.raises(UserError, match="NaN"):
        export.generate(np.full((1, 3), np.nan, np.float32))
    with pytest.raises(UserError, match="int32"):
        export.sample([2**40])


def test_losses_that_explode_without_turning_nan_are_divergence(tmp_path):
    """The rule: NaN or infinite, or over a million and a thousand times the first step's magnitude.
    A GAN at --lr 10 can log losses of 1e7 that stay finite; a VAE's honest 550 nats must not trip it."""
    from types import SimpleNamespace

    from keras_gen.training.callbacks import StopOnNonFinite
    from keras_gen.utils.errors import TrainingDiverged

    def feed(*steps):
        callback = StopOnNonFinite(tmp_path / "checkpoints")
        callback.set_model(SimpleNamespace(steps_trained=7))
        for logs in steps:
            callback.on_train_batch_end(0, logs)

    feed({"loss": 550.0}, {"loss": 2e5}, {"loss": 9e5})  # large, but neither over a million nor 1,000x
    feed({"d_loss": 2e3}, {"d_loss": 1.5e6})  # over a million, but only 750x the first step's
    feed({"d_loss": 0.7, "d_real": 3e6}, {"d_loss": 0.6, "d_real": 5e6})  # not a loss: D's mean output
    with pytest.raises(TrainingDiverged, match=r"g_loss is 1\.2e\+07, over a million and 1,000 times its 0\.69"):
        feed({"d_loss": 1.4, "g_loss": 0.69}, {"d_loss": 1.2, "g_loss": 1.2e7})
    with pytest.raises(TrainingDiverged, match="loss is nan"):
        feed({"loss": 550.0}, {"loss": float("nan")})
