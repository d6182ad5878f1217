"""``keras-gen export FILE.keras``: a model trained in Python (``model.save``) reaches TF Serving's
layout, TFLite and ONNX the way a run does, with the signatures train.py's exports have."""

from __future__ import annotations

import json
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

import models_zoo
from keras_gen.cli import main as cli_main
from keras_gen.config import resolve_config
from keras_gen.datasets import build_train_set
from keras_gen.training.build import compile_model

from conftest import assert_one_line_error, load_in_plain_tensorflow, run_in_process


@pytest.fixture(scope="module")
def saved(tmp_path_factory, mnist_train):
    """vae_mlp_2d built, compiled and fitted for two steps in Python, then ``model.save``d."""
    model = models_zoo.build("vae_mlp_2d")
    compile_model(model, resolve_config("vae_mlp_2d"))
    images, labels = mnist_train
    batches = build_train_set(tf.data.Dataset.from_tensor_slices((images[:64], labels[:64])),
                              image_shape=model.image_shape, value_range=model.value_range, batch_size=32, seed=0)
    model.fit(batches, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("notebook") / "my_vae.keras"
    model.save(path)
    return model, path


def export(*args, cwd, capsys, monkeypatch) -> subprocess.CompletedProcess:
    """``keras-gen export ARGS`` through its ``main``, in this process."""
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    try:
        code = cli_main(["export", *map(str, args)])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def test_a_keras_file_exports_as_a_run_does(saved, tmp_path):
    model, path = saved
    proc = run_in_process(["-m", "keras_gen", "export", path, "--dataset", "mnist"], cwd=tmp_path, check=True)
    version = tmp_path / "saved_models" / "my_vae_mnist" / "1"
    assert "SavedModel:  saved_models/my_vae_mnist/1" in proc.stdout, proc.stdout
    info = json.loads((version / "assets" / "keras_gen.json").read_text())
    assert info["dataset"] == "mnist" and info["steps_trained"] == 2 and info["source_file"] == str(path)
    assert "my_vae_mnist" in (tmp_path / "saved_models" / "models.config").read_text()
    plain = load_in_plain_tensorflow(version)[str(version)]
    assert {"sample", "generate", "latent", "encode", "decode", "serving_default"} <= set(plain["signatures"])
    np.testing.assert_allclose(plain["sample"], model.sample(tf.constant([0, 1, 2, 3])), atol=1e-5)


def test_tflite_and_a_chosen_name(saved, tmp_path, capsys, monkeypatch):
    _, path = saved
    proc = export(path, "--dataset", "mnist", "--name", "digits", "--format", "tflite", cwd=tmp_path, capsys=capsys,
                  monkeypatch=monkeypatch)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "saved_models" / "tflite" / "digits_mnist" / "1" / "model.tflite").is_file()
    assert not [p for p in (tmp_path / "saved_models").iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_runs_checkpoint_file_knows_its_model_and_dataset(tmp_path, tiny_mnist_dir, capsys, monkeypatch):
    run_in_process(["train.py", "--model", "vae_mlp_2d", "--data-dir", tiny_mnist_dir, "--epochs", "1",
                    "--steps-per-epoch", "2", "--batch-size", "16", "--run-dir", tmp_path / "run", "--no-export"],
                   check=True)
    proc = export(tmp_path / "run" / "checkpoints" / "epoch-0001.keras", "--export-dir", tmp_path / "out",
                  cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "vae_mlp_2d_mnist" / "1" / "saved_model.pb").is_file()


def test_bad_sources_are_one_line_and_write_nothing(saved, tmp_path, capsys, monkeypatch):
    _, path = saved
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    plain.save(tmp_path / "plain.keras")
    (tmp_path / "broken.keras").write_bytes(b"PK\x03\x04 not a zip")
    cases = [
        ((path,), ["does not say which dataset", "pass --dataset NAME"]),
        ((tmp_path / "plain.keras", "--dataset", "mnist"), ["plain.keras is a Sequential, not a keras_gen model"]),
        ((tmp_path / "broken.keras", "--dataset", "mnist"), ["cannot load", "as a Keras model"]),
        ((tmp_path / "missing.keras", "--dataset", "mnist"), ["does not exist"]),
        ((path, "--dataset", "mnist", "--name", "my vae"), ["must be letters, digits"]),
        ((path, "--dataset", "mnist", "--checkpoint", "best"), ["drop --checkpoint"]),
        ((tmp_path, "--dataset", "mnist"), ["--name and --dataset are for .keras files"]),
    ]
    for args, needles in cases:
        assert_one_line_error(export(*args, cwd=tmp_path, capsys=capsys, monkeypatch=monkeypatch), *needles)
    assert not (tmp_path / "saved_models").exists()
