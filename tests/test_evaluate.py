"""``keras-gen evaluate``, ``keras-gen compare`` and ``train.py --eval-every/--keep-best`` as a user
runs them: real runs trained for a few steps on real MNIST, real exports, real files on disk."""

from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pytest

from keras_gen.cli.compare import main as compare_main
from keras_gen.cli.evaluate import main as evaluate_main
from keras_gen.evaluation.evaluate import EvalSettings, Subject, evaluate, format_table
from keras_gen.utils.errors import UserError

from conftest import REPO, assert_one_line_error, run, run_in_process

TRAIN = REPO / "train.py"
CLI = ["-m", "keras_gen"]
SMALL = ["--samples", "200", "--kid-subsets", "10", "--kid-subset-size", "100", "--iwae-k", "8",
         "--likelihood-images", "64"]


def env_for(cache):
    return {"KERAS_GEN_CACHE": str(cache)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_mnist_dir, default_slot_cache):
    """A VAE run (1 epoch) and a GAN run (2 epochs, FID every epoch, best checkpoint kept and
    exported), on 1,024 real MNIST images, in a user's working directory."""
    cwd = tmp_path_factory.mktemp("user")
    common = ["--dataset", "mnist", "--data-dir", tiny_mnist_dir, "--batch-size", "64"]
    run_in_process([TRAIN, "--model", "vae_mlp_2d", *common, "--epochs", "1", "--run-dir", "runs/vae"], cwd=cwd,
                   check=True, env=env_for(default_slot_cache))
    gan = run_in_process([TRAIN, "--model", "mlp_gan", *common, "--epochs", "2", "--run-dir", "runs/gan",
                          "--eval-every", "1", "--eval-samples", "300", "--keep-best", "fid"], cwd=cwd, check=True,
                         env=env_for(default_slot_cache))
    return {"cwd": cwd, "vae": cwd / "runs" / "vae", "gan": cwd / "runs" / "gan", "gan_stdout": gan.stdout,
            "vae_export": cwd / "saved_models" / "vae_mlp_2d_mnist" / "1",
            "gan_export": cwd / "saved_models" / "mlp_gan_mnist" / "1"}


# --------------------------------------------------------------------------- train.py --eval-every / --keep-best
def test_eval_every_logs_fid_and_keep_best_exports_the_best(runs):
    gan = runs["gan"]
    with open(gan / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    fids = [float(r["fid"]) for r in rows]
    assert len(fids) == 2 and all(math.isfinite(v) and v > 0 for v in fids)
    best = json.loads((gan / "checkpoints" / "best.json").read_text())
    assert best["monitor"] == "fid" and best["logs"]["fid"] == pytest.approx(min(fids))
    assert best["epoch"] == 1 + int(np.argmin(fids)) and (gan / "checkpoints" / "best.keras").is_file()
    latest = json.loads((gan / "checkpoints" / "latest.json").read_text())
    assert latest["logs"]["fid"] == pytest.approx(fids[-1])  # the checkpoint records carry the figure too
    meta = json.loads((runs["gan_export"] / "assets" / "keras_gen.json").read_text())
    assert meta["monitor"] == "fid" and meta["epochs"] == best["epoch"]
    assert meta["monitor_value"] == pytest.approx(min(fids)) and "the best checkpoint" in runs["gan_stdout"]
    # TensorBoard has the figure as a scalar beside the losses.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(gan / "tensorboard" / "train")).Reload()
    scalars = events.Tags()["scalars"] + events.Tags().get("tensors", [])
    assert "epoch_fid" in scalars, scalars


def test_keep_best_without_eval_every_evaluates_every_epoch():
    from keras_gen.config import resolve_config

    assert resolve_config("mlp_gan", keep_best="fid").eval_every == 1
    assert resolve_config("mlp_gan", keep_best="fid", eval_every=3).eval_every == 3
    assert resolve_config("mlp_gan").eval_every is None
    with pytest.raises(UserError):
        resolve_config("mlp_gan", eval_samples=1)


# --------------------------------------------------------------------------- keras-gen evaluate
@pytest.fixture(scope="module")
def vae_evaluation(runs, default_slot_cache):
    proc = run_in_process([*CLI, "evaluate", runs["vae"], *SMALL], cwd=runs["cwd"], check=True,
                          env=env_for(default_slot_cache))
    return proc, json.loads((runs["vae"] / "evaluation" / "metrics.json").read_text())


def test_evaluate_a_run_directory(vae_evaluation, runs):
    proc, result = vae_evaluation
    assert result["subject"]["kind"] == "run" and result["subject"]["model"] == "vae_mlp_2d"
    assert result["subject"]["parameters"] == {"encoder": 534_276, "decoder": 534_544}  # ZOO.md: 1,068,820
    assert result["subject"]["training"]["epochs"] == 1 and result["subject"]["training"]["images_per_sec"] > 0
    assert result["extractor"]["extractor"] == "domain-classifier/mnist-limit2000"
    assert result["reference"]["test_images"] == 200  # a random 200 of the run's 256 test images
    figures = result["metrics"]
    for key in ("fid", "kid", "precision", "recall", "density", "coverage", "classifier_score", "classes_covered",
                "class_entropy", "sharpness", "nn_distance"):
        assert figures[key]["extractor"] == "domain-classifier/mnist-limit2000", key
        assert figures[key]["floor"] is not None and math.isfinite(figures[key]["value"]), key
    assert figures["fid"]["value"] > figures["fid"]["floor"]  # one epoch on 1,024 images is no perfect model
    assert 0 <= figures["precision"]["value"] <= 1 and figures["classes_covered"]["of"] == 10
    assert sum(result["class_counts"]) == 200
    # VAE likelihood: the IWAE bound (k = 8) is inside the negative ELBO; the reconstruction error is small.
    assert figures["elbo"]["value"] < 0 and figures["elbo"]["extractor"] is None
    assert figures["iwae_nll_bound"]["value"] < -figures["elbo"]["value"] and figures["iwae_nll_bound"]["k"] == 8
    assert 0 < figures["reconstruction_mse"]["value"] < 0.2 and figures["elbo"]["images"] == 64
    grid = (runs["vae"] / "evaluation" / "samples.png")
    import tensorflow as tf

    assert tf.io.decode_png(tf.io.read_file(str(grid))).shape[:2] == (8 * 29 - 1, 8 * 29 - 1)
    table = proc.stdout
    assert re.search(r"^FID\s+\d+\.\d+\s+\d+\.\d+\s+lower$", table, re.M), table
    assert "real test vs train" in table and "IWAE NLL bound k=8" in table and "wrote" in table


def test_evaluate_an_export_uses_its_signatures_only(runs, default_slot_cache):
    proc = run_in_process([*CLI, "evaluate", runs["gan_export"].parent, *SMALL], cwd=runs["cwd"], check=True,
                          env=env_for(default_slot_cache))
    out = runs["cwd"] / "evaluations" / "mlp_gan_mnist-v1"
    result = json.loads((out / "metrics.json").read_text())
    assert result["subject"]["kind"] == "export" and result["subject"]["path"] == str(runs["gan_export"])
    assert result["subject"]["parameters"] == {"generator": 293_136, "discriminator": 201_217}
    assert result["subject"]["training"]["epochs"] == result["subject"]["epochs"]  # history up to the best epoch
    assert "elbo" not in result["metrics"] and "reconstruction_mse" not in result["metrics"]
    assert (out / "samples.png").is_file() and "mlp_gan_mnist" in proc.stdout


def test_evaluation_is_reproducible_and_the_floor_is_cached(runs, vae_evaluation, default_slot_cache, monkeypatch):
    from keras_gen.evaluation.evaluate import open_subject

    monkeypatch.setenv("KERAS_GEN_CACHE", str(default_slot_cache))
    subject = open_subject(runs["vae"])
    settings = EvalSettings(samples=200, kid_subsets=10, kid_subset_size=100, iwae_k=4, likelihood_images=32)
    lines = []
    first, grid = evaluate(subject, settings, log=lines.append)
    assert not any("floor" in line for line in lines)  # computed by the CLI evaluation (vae_evaluation), cached
    second, _ = evaluate(subject, settings)
    for key, entry in first["metrics"].items():
        assert second["metrics"][key]["value"] == pytest.approx(entry["value"], rel=1e-5), key
    assert grid.shape == (64, 28, 28, 1) and 0.0 <= grid.min() and grid.max() <= 1.0
    other, _ = evaluate(subject, EvalSettings(samples=200, kid_subsets=10, kid_subset_size=100, iwae_k=4,
                                              likelihood_images=32, seed=1))
    assert other["metrics"]["fid"]["value"] != first["metrics"]["fid"]["value"]  # another seed, other samples


class ImagesSubject(Subject):
    """A 'generator' whose samples are given images: real training digits are a perfect model,
    one digit repeated a collapsed one. Everything after sampling is the real evaluation."""

    def __init__(self, images, *, name):
        super().__init__(REPO, {"name": name, "path": "-", "kind": "images", "model": name, "family": "gan",
                                "dataset": "mnist", "dataset_options": {}, "data_dir": None,
                                "image_shape": [28, 28, 1], "num_classes": None, "checkpoint": "-",
                                "checkpoint_label": "-", "steps": 0, "epochs": 0, "value_range": "zero_one"})
        self.images = images.astype(np.float32) / 255.0

    def sample(self, seeds, labels):
        return self.images[np.asarray(seeds) % len(self.images)]


def test_a_perfect_model_scores_the_floor_and_a_collapsed_one_does_not(default_slot_cache, mnist_train,
                                                                        monkeypatch):
    """On the full MNIST test set: training digits the classifier never saw (a "perfect generator")
    score about what the real-vs-real floor says; one repeated digit covers one class, no recall."""
    monkeypatch.setenv("KERAS_GEN_CACHE", str(default_slot_cache))
    settings = EvalSettings(samples=1000, kid_subsets=20, kid_subset_size=500)
    rng = np.random.default_rng(3)
    perfect = ImagesSubject(mnist_train[0][rng.permutation(60_000)[:1000]], name="perfect")
    result, _ = evaluate(perfect, settings)
    m = result["metrics"]
    assert m["fid"]["value"] < 3 * m["fid"]["floor"] + 1.0, m["fid"]
    assert abs(m["kid"]["value"]) < 3 * m["kid"]["std"] + 0.005
    assert m["recall"]["value"] > 0.6 and m["precision"]["value"] > 0.6 and m["classes_covered"]["value"] == 10
    assert 0.8 < m["sharpness"]["value"] / m["sharpness"]["floor"] < 1.25
    # Copies of training images sit at distance 0 from the training set: memorization shows.
    assert m["nn_distance"]["value"] < 0.05 * m["nn_distance"]["floor"]
    collapsed, _ = evaluate(ImagesSubject(mnist_train[0][:1], name="collapsed"), settings)
    c = collapsed["metrics"]
    assert c["classes_covered"]["value"] == 1 and c["recall"]["value"] < 0.01 and c["coverage"]["value"] < 0.01
    assert c["fid"]["value"] > 20 * m["fid"]["value"] and c["class_entropy"]["value"] == pytest.approx(0.0)
    assert "collapsed" in format_table(collapsed)


# --------------------------------------------------------------------------- keras-gen compare
def test_compare_writes_a_self_contained_report(runs, vae_evaluation, default_slot_cache, tmp_path):
    out = tmp_path / "report"
    proc = run_in_process([*CLI, "compare", runs["vae"], runs["gan_export"], *SMALL, "--out", out], cwd=runs["cwd"],
                          check=True, env=env_for(default_slot_cache))
    assert "reusing" in proc.stderr  # the VAE's evaluation above had the same settings and checkpoint
    html = (out / "report.html").read_text()
    sources = re.findall(r"<img src='([^']*)'", html)
    assert len(sources) >= 4 and all(s.startswith("data:image/png;base64,") for s in sources)  # self-contained
    assert "vae_mlp_2d_mnist" in html and "mlp_gan_mnist" in html and "real test vs train" in html
    md = (out / "report.md").read_text()
    for target in re.findall(r"\]\((report_files/[^)]+)\)", md):
        assert (out / target).is_file(), target
    assert "| vae_mlp_2d_mnist | vae |" in md and "## The reports' claims" in md
    data = json.loads((out / "comparison.json").read_text())
    verdicts = {v["metric"]: v for v in data["verdicts"]}
    fid = {r["subject"]["name"]: r["metrics"]["fid"]["value"] for r in data["results"]}
    winner = min(fid, key=fid.get)
    assert verdicts["fid"]["winner"] in (winner, None) and winner in verdicts["fid"]["text"]
    assert verdicts["elbo"]["text"].startswith("only vae_mlp_2d_mnist")  # GANs have no likelihood
    claims = {c["claim"]: c for c in data["claims"]}
    blurry = claims["VAE samples are blurrier than GAN samples"]
    sharp = {r["subject"]["family"]: r["metrics"]["sharpness"]["value"] for r in data["results"]}
    assert blurry["outcome"] == ("holds" if sharp["gan"] > sharp["vae"] else "does not hold")
    assert "wrote" in proc.stdout and "FID:" in proc.stdout


# --------------------------------------------------------------------------- bad input
def test_bad_input_is_one_line_and_exit_2(tmp_path, runs, capsys, default_slot_cache, monkeypatch):
    monkeypatch.setenv("KERAS_GEN_CACHE", str(default_slot_cache))
    monkeypatch.chdir(runs["cwd"])
    cases = [
        (evaluate_main, [str(tmp_path)], ["neither a run directory", "saved_models"]),
        (evaluate_main, [str(tmp_path / "missing")], ["does not exist"]),
        (evaluate_main, [str(runs["vae"]), "--samples", "3"], ["k=5", "--samples 3"]),
        (evaluate_main, [str(runs["vae"]), "--samples", "500", "--kid-subset-size", "800"], ["--kid-subset-size 800"]),
        (evaluate_main, [str(runs["vae"]), "--checkpoint", "best"], ["no best checkpoint", "--keep-best"]),
        (evaluate_main, [str(runs["gan_export"]), "--checkpoint", "best"], ["run directories"]),
        (evaluate_main, [str(runs["vae"]), "--samples", "0"], ["positive integer"]),
        (compare_main, [str(runs["vae"])], ["at least two models"]),
    ]
    for main, argv, needles in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2, argv
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in err, (argv, err)
        for needle in needles:
            assert needle in lines[0], (needle, lines[0])
    assert not (tmp_path / "evaluation").exists()  # nothing half-written


def test_compare_refuses_models_of_different_datasets(runs, tmp_path, capsys):
    import shutil

    other = tmp_path / "fashion_run"
    shutil.copytree(runs["vae"], other)
    config = json.loads((other / "config.json").read_text())
    config["dataset"] = "fashion_mnist"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit) as exit_info:
        compare_main([str(runs["vae"]), str(other)])
    assert exit_info.value.code == 2
    assert "different data" in capsys.readouterr().err


def test_extractor_dataset_mismatch_from_the_command_line(runs, tmp_path, default_slot_cache):
    """A run whose images cannot be MNIST's (3 channels) against the MNIST classifier: one line."""
    import shutil

    meta_path = runs["vae_export"] / "assets" / "keras_gen.json"
    export = tmp_path / "rgb_export" / "1"
    shutil.copytree(runs["vae_export"], export)
    meta = json.loads(meta_path.read_text())
    meta["image_shape"] = [128, 128, 3]
    (export / "assets" / "keras_gen.json").write_text(json.dumps(meta))
    proc = run([*CLI, "evaluate", export, *SMALL], cwd=tmp_path, env=env_for(default_slot_cache))  # a real process
    assert_one_line_error(proc, "128x128x3", "28x28x1", "--extractor inception")


def test_each_extractor_keeps_its_own_evaluation(tmp_path):
    """A domain evaluation must not replace a standard-Inception one (hours of CPU at full size)."""
    from keras_gen.evaluation.evaluate import EvalSettings, RunSubject

    subject = RunSubject.__new__(RunSubject)
    subject.path = tmp_path
    names = {subject.default_out(s).name for s in (
        EvalSettings(), EvalSettings(samples=200), EvalSettings(extractor="inception"),
        EvalSettings(extractor="fid-inception", fid_images=1000), EvalSettings(extractor="fid-inception"))}
    assert names == {"evaluation", "evaluation-inception", "evaluation-fid-inception-1000",
                     "evaluation-fid-inception-10000"}


def test_seconds_per_epoch_is_compared_only_between_equal_epochs():
    from keras_gen.evaluation.compare import verdict
    from keras_gen.evaluation.settings import METRIC

    def row(name, seconds, images):
        return {"name": name, "entry": {"value": seconds, "images_per_epoch": images}}

    spec = METRIC["seconds_per_epoch"]
    unequal = verdict(spec, [row("a", 2.0, 6_000), row("b", 43.0, 60_000)])  # was "a wins, 21.50x lower"
    assert unequal["winner"] is None and "not comparable" in unequal["text"] and "6,000" in unequal["text"]
    assert verdict(spec, [row("a", 2.0, 60_000), row("b", 43.0, 60_032)])["winner"] == "a"
