"""The generator's moving average (``--ema DECAY``, GAN families): the recurrence, what samples and
exports use, checkpoints and resume, and bad input."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import models_zoo
from keras_gen.cli.train import main as train_main
from keras_gen.config import resolve_config
from keras_gen.datasets import to_unit_range
from keras_gen.training.build import build_model, compile_model

from conftest import load_in_plain_tensorflow

DECAY = 0.9


def _batches(model, mnist_train, steps: int):
    """``steps`` batches of 16 real digits per discriminator step, in [-1, 1] (tanh generators)."""
    batch = 16 * model.data_batch_multiplier
    images = mnist_train[0][:batch * steps].astype(np.float32) / 127.5 - 1.0
    data = tf.data.Dataset.from_tensor_slices(images)
    if model.conditional:
        data = tf.data.Dataset.zip((data, tf.data.Dataset.from_tensor_slices(mnist_train[1][:batch * steps])))
    return data.batch(batch)


@pytest.mark.parametrize("name", ["dcgan", "wgan", "cgan"])  # BatchNorm; a critic family; a conditional GAN
def test_the_average_follows_the_generator(name, mnist_train, tmp_path):
    config = resolve_config(name, dataset="mnist", ema=DECAY, steps_per_execution=1, jit_compile=False)
    model = build_model(config, num_classes=10)
    compile_model(model, config)
    before = [w.numpy().copy() for w in model.generator.weights]
    np.testing.assert_array_equal(before[0], model.generator_ema.weights[0].numpy())  # starts as the generator
    model.fit(_batches(model, mnist_train, 1), epochs=1, verbose=0)
    after = [w.numpy() for w in model.generator.weights]
    averaged = [w.numpy() for w in model.generator_ema.weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))  # the generator moved
    for w0, w1, ema in zip(before, after, averaged):  # one step: ema = d * w0 + (1 - d) * w1
        np.testing.assert_allclose(ema, DECAY * w0 + (1 - DECAY) * w1, rtol=1e-5, atol=1e-6)
    # Samples are the averaged generator's; training steps use the generator itself.
    seeds = tf.constant([0, 1, 2], tf.int32)
    labels = tf.constant([0, 1, 2]) if model.conditional else None
    z = model.latent_from_seeds(seeds)
    inputs = model._net_inputs(z, labels)
    np.testing.assert_allclose(model.sample(seeds, labels),
                               to_unit_range(model.generator_ema(inputs, training=False), model.value_range), atol=1e-6)
    assert not np.allclose(model.sample(seeds, labels),
                           to_unit_range(model.generator(inputs, training=False), model.value_range), atol=1e-4)
    # A saved model keeps both networks and the decay, and goes on averaging.
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.ema_decay == DECAY
    for a, b in zip(loaded.generator_ema.weights, model.generator_ema.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_model_without_ema_samples_its_generator():
    model = models_zoo.build("mlp_gan_wide")
    assert model.generator_ema is None and model.get_config()["ema_decay"] is None


def test_train_py_ema_checkpoints_resumes_and_exports_the_average(tmp_path, tiny_mnist_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_dir, root = tmp_path / "run", tmp_path / "saved_models"
    common = ["--data-dir", str(tiny_mnist_dir), "--steps-per-epoch", "3", "--run-dir", str(run_dir),
              "--export-dir", str(root)]
    assert train_main(["--model", "mlp_gan_wide", "--ema", "0.99", "--epochs", "1", *common]) == 0
    assert json.loads((run_dir / "config.json").read_text())["ema"] == 0.99
    assert train_main(["--resume", "--epochs", "2", *common]) == 0
    from keras_gen.rundir.checkpoints import load_checkpoint

    model = load_checkpoint(run_dir / "checkpoints" / "epoch-0002.keras")
    assert model.ema_decay == 0.99 and model.steps_trained == 6
    export = root / "mlp_gan_wide_mnist" / "2"
    (info,) = load_in_plain_tensorflow(export).values()
    np.testing.assert_allclose(np.array(info["sample"], np.float32), model.sample(tf.constant([0, 1, 2, 3])),
                               atol=1e-5)  # the export serves the average


@pytest.mark.parametrize("args, needle", [
    (["--model", "vae_mlp", "--ema", "0.999"], "--ema averages a GAN's generator; vae_mlp is a VAE"),
    (["--model", "dcgan", "--ema", "1.5"], "--ema must be a decay between 0 and 1"),
    (["--model", "dcgan", "--ema", "0.99", "--strategy", "mirrored"], "--ema runs with the default strategy only"),
])
def test_bad_ema_is_one_line(args, needle, tmp_path, tiny_mnist_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        train_main([*args, "--data-dir", str(tiny_mnist_dir)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "runs").exists()
