"""The quality levers of issue 27: the generator's moving average (``--ema DECAY``: the recurrence,
what samples and exports use, checkpoints and resume) and the truncation trick (``sample(...,
truncation=PSI)`` on a model, an export and the command line, and ``evaluate --truncation``)."""

from __future__ import annotations

import json
import re

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


def stored_values(export) -> int:
    """How many numbers an export's variables file holds."""
    reader = tf.train.load_checkpoint(str(export / "variables" / "variables"))
    return sum(int(np.prod(shape)) for name, shape in reader.get_variable_to_shape_map().items()
               if name.endswith("VARIABLE_VALUE"))


def test_a_model_without_ema_samples_its_generator():
    model = models_zoo.build("mlp_gan_wide")
    assert model.generator_ema is None and model.get_config()["ema_decay"] is None


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory, tiny_mnist_dir):
    """mlp_gan_wide with --ema 0.99: one epoch of 3 steps, then --resume to a second; both exported
    (the second --publish'ed: served without being measured against the first)."""
    tmp = tmp_path_factory.mktemp("ema")
    run_dir, root = tmp / "run", tmp / "saved_models"
    common = ["--data-dir", str(tiny_mnist_dir), "--steps-per-epoch", "3", "--run-dir", str(run_dir),
              "--export-dir", str(root)]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        assert train_main(["--model", "mlp_gan_wide", "--ema", "0.99", "--epochs", "1", *common]) == 0
        config = json.loads((run_dir / "config.json").read_text())
        assert train_main(["--resume", "--epochs", "2", "--publish", *common]) == 0
    return {"run_dir": run_dir, "export": root / "mlp_gan_wide_mnist" / "2", "first_config": config}


def test_train_py_ema_checkpoints_resumes_and_exports_the_average(ema_run):
    assert ema_run["first_config"]["ema"] == 0.99
    from keras_gen.rundir.checkpoints import load_checkpoint

    model = load_checkpoint(ema_run["run_dir"] / "checkpoints" / "epoch-0002.keras")
    assert model.ema_decay == 0.99 and model.steps_trained == 6
    (info,) = load_in_plain_tensorflow(ema_run["export"]).values()
    np.testing.assert_allclose(np.array(info["sample"], np.float32), model.sample(tf.constant([0, 1, 2, 3])),
                               atol=1e-5)  # the export serves the average
    # ...and holds it once, beside the discriminator: not the trained generator, not the optimizers.
    served = model.generator_ema.count_params() + model.discriminator.count_params()
    assert stored_values(ema_run["export"]) == served


@pytest.mark.parametrize("args, needle", [
    (["--model", "vae_mlp", "--ema", "0.999"], "--ema averages a GAN's generator; vae_mlp is a VAE"),
    (["--model", "dcgan", "--ema", "1.5"], "--ema must be a decay between 0 and 1"),
    (["--model", "dcgan", "--ema", "0.99", "--strategy", "mirrored"], "--ema runs with the default strategy only"),
    (["--model", "vae_mlp", "--diffaugment", "translation"], "--diffaugment augments what a GAN's discriminator"),
    (["--model", "dcgan", "--diffaugment", "translation,color"], "mnist's images have one channel"),
    (["--model", "dcgan", "--diffaugment", "flip"], "--diffaugment takes a comma-separated list of translation"),
    (["--model", "dcgan", "--latent-sampler", "10"], "--latent-sampler fits a mixture to a VAE's codes; dcgan"),
    (["--model", "vae_mlp", "--latent-sampler", "0"], "argument --latent-sampler: expected a positive integer"),
    (["--model", "vae_mlp", "--lr-schedule", "step"], "argument --lr-schedule: invalid choice: 'step'"),
])
def test_bad_levers_are_one_line(args, needle, tmp_path, tiny_mnist_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        train_main([*args, "--data-dir", str(tiny_mnist_dir)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------ learning-rate schedule
def test_cosine_schedule_decays_every_optimizer_and_resume_continues_the_curve(tmp_path, tiny_mnist_dir,
                                                                              monkeypatch):
    """mlp_gan_wide (two optimizers), 4 epochs of 4 steps run 2 per call: straight through, and
    stopped after its first epoch by --time-limit then resumed. Each call's first step sets the rate."""
    from keras_gen.rundir.checkpoints import load_checkpoint
    from keras_gen.rundir.history import read_history

    monkeypatch.chdir(tmp_path)
    common = ["--model", "mlp_gan_wide", "--data-dir", str(tiny_mnist_dir), "--steps-per-epoch", "4",
              "--steps-per-execution", "2", "--epochs", "4", "--lr", "0.001", "--lr-schedule", "cosine", "--no-export"]
    assert train_main([*common, "--run-dir", "straight"]) == 0
    assert train_main([*common, "--run-dir", "stopped", "--time-limit", "1e-9"]) == 0
    assert [r["epoch"] for r in read_history(tmp_path / "stopped" / "history.csv")] == ["1"]
    assert json.loads((tmp_path / "stopped" / "config.json").read_text())["lr_schedule"] == "cosine"
    assert train_main(["--resume", "--run-dir", "stopped", "--time-limit", "60"]) == 0

    expected = [0.001 * (1 + np.cos(np.pi * (4 * epoch + 2) / 16)) / 2 for epoch in range(4)]  # last call: step 2
    for run in ("straight", "stopped"):
        rates = [float(r["learning_rate"]) for r in read_history(tmp_path / run / "history.csv")]
        np.testing.assert_allclose(rates, expected, rtol=1e-6)
        model = load_checkpoint(tmp_path / run / "checkpoints" / "epoch-0004.keras")
        for optimizer in (model.g_optimizer, model.d_optimizer):
            np.testing.assert_allclose(float(optimizer.learning_rate), expected[-1], rtol=1e-6)
    assert (tmp_path / "straight" / "loss_curves.png").stat().st_size > 0


def test_without_a_schedule_the_learning_rate_stays_put(tmp_path, tiny_mnist_dir, monkeypatch):
    from keras_gen.rundir.checkpoints import load_checkpoint
    from keras_gen.rundir.history import read_history

    monkeypatch.chdir(tmp_path)
    assert train_main(["--model", "vae_mlp", "--data-dir", str(tiny_mnist_dir), "--steps-per-epoch", "2",
                       "--epochs", "1", "--lr", "0.002", "--run-dir", "run", "--no-export"]) == 0
    assert "learning_rate" not in read_history(tmp_path / "run" / "history.csv")[0]
    assert float(load_checkpoint(tmp_path / "run" / "checkpoints" / "epoch-0001.keras").optimizer.learning_rate) \
        == pytest.approx(0.002)


# ------------------------------------------------------------------------------ truncation
def test_truncation_scales_the_noise_and_one_is_no_truncation():
    model = models_zoo.build("mlp_gan_wide")
    seeds = tf.constant([3, 4, 5], tf.int32)
    plain = model.sample(seeds).numpy()
    np.testing.assert_array_equal(model.sample(seeds, truncation=1.0).numpy(), plain)  # bit for bit
    z = model.latent_from_seeds(seeds)
    np.testing.assert_allclose(model.latent_from_seeds(seeds, 0.5), 0.5 * z, rtol=1e-6)
    np.testing.assert_allclose(model.sample(seeds, truncation=0.5), model.generate_unit(0.5 * z), atol=1e-6)
    per_image = model.latent_from_seeds(seeds, tf.constant([1.0, 0.5, 0.0]))  # one psi per seed
    np.testing.assert_allclose(per_image, z * np.array([[1.0], [0.5], [0.0]], np.float32), atol=1e-6)


def test_truncated_samples_from_an_export_and_the_command_line(ema_run, tmp_path, capsys):
    from keras_gen.cli import main as cli_main
    from keras_gen.rundir.checkpoints import load_checkpoint
    from keras_gen.serving.runtime import load_export
    from keras_gen.utils.errors import UserError

    model = load_checkpoint(ema_run["run_dir"] / "checkpoints" / "epoch-0002.keras")
    export = load_export(ema_run["export"])
    seeds = np.arange(6)
    np.testing.assert_allclose(export.sample(seeds, truncation=0.7), model.sample(tf.constant(seeds), truncation=0.7),
                               atol=1e-5)
    np.testing.assert_array_equal(export.sample(seeds, truncation=1.0), export.sample(seeds))  # the sample signature
    assert cli_main(["sample", str(ema_run["export"]), "--n", "6", "--truncation", "0.7",
                     "--out", str(tmp_path / "t.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "t.npy"), export.sample(seeds, truncation=0.7), atol=1e-6)
    with pytest.raises(UserError, match=re.escape("truncation must be a number in [0, 1]")):
        export.sample(seeds, truncation=1.5)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["sample", str(ema_run["export"]), "--truncation", "-1", "--out", str(tmp_path / "u.png")])
    assert exit_info.value.code == 2 and "truncation must be a number in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "u.png").exists()


def test_evaluate_with_truncation_keeps_its_own_figures(ema_run, default_slot_cache, monkeypatch):
    """Truncated samples trade variety for fidelity: measured apart from the plain ones, the
    setting recorded. A VAE is refused in one line."""
    import keras_gen

    monkeypatch.setenv("KERAS_GEN_CACHE", str(default_slot_cache))
    plain = keras_gen.evaluate(ema_run["run_dir"], samples=200, out=ema_run["run_dir"] / "eval-plain")
    cut = keras_gen.evaluate(ema_run["run_dir"], samples=200, truncation=0.0, out=ema_run["run_dir"] / "eval-cut")
    assert "truncation" not in plain["settings"] and cut["settings"]["truncation"] == 0.0
    # psi 0: every sample is the image of the prior's mean, so one class and no recall
    assert cut["metrics"]["classes_covered"]["value"] == 1 and cut["metrics"]["recall"]["value"] == 0.0
    from keras_gen.evaluation.evaluate import evaluation_name
    from keras_gen.evaluation.settings import EvalSettings

    assert evaluation_name("evaluation", EvalSettings(truncation=0.7)) == "evaluation-truncation0.7"
    vae = models_zoo.build("vae_mlp")
    with pytest.raises(keras_gen.UserError, match="truncation applies to GANs"):
        keras_gen.evaluate(vae, dataset="mnist", samples=200, truncation=0.5)


# ------------------------------------------------------------------------------ DiffAugment
def _seeded():
    return keras.random.SeedGenerator(7)


def test_translation_shifts_each_image_within_an_eighth_and_fills_with_zeros():
    from keras_gen.families.augment import translation

    x = np.zeros((64, 16, 16, 1), np.float32)
    x[:, 8, 8, 0] = 1.0  # one lit pixel per image
    out = translation(tf.constant(x), _seeded()).numpy()
    shifts = set()
    for image in out:
        ys, xs = np.nonzero(image[..., 0])
        assert len(ys) == 1 and image.sum() == 1.0  # moved, not blurred: the shift is at most 2 of 16 pixels
        dy, dx = ys[0] - 8, xs[0] - 8
        assert abs(dy) <= 2 and abs(dx) <= 2
        shifts.add((dy, dx))
    assert len(shifts) > 5  # one draw per image
    border = translation(tf.ones((64, 16, 16, 1)), _seeded()).numpy()
    assert border.min() == 0.0 and border.max() == 1.0  # the uncovered border is 0


def test_cutout_zeros_one_square_of_half_the_size():
    from keras_gen.families.augment import cutout

    out = cutout(tf.ones((64, 16, 16, 3)), _seeded()).numpy()
    for image in out:
        holes = image[..., 0] == 0
        rows, cols = np.nonzero(holes.any(axis=1))[0], np.nonzero(holes.any(axis=0))[0]
        assert holes.sum() == len(rows) * len(cols) and len(rows) <= 8 and len(cols) <= 8  # a rectangle, clipped
        assert (image[holes] == 0).all() and (image[~holes] == 1).all()
    assert (out == 0).sum(axis=(1, 2, 3)).max() == 8 * 8 * 3  # a square inside the image is 8 x 8


def test_augmentations_pass_gradients_and_colour_needs_colour():
    from keras_gen.families.augment import augment, check_policies

    x = tf.Variable(tf.random.uniform((4, 16, 16, 3)))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(augment(x, ["translation", "cutout", "color"], _seeded()))
    grad = tape.gradient(y, x)
    assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0
    with pytest.raises(ValueError, match="one channel"):
        check_policies(["color"], channels=1)
    with pytest.raises(ValueError, match="translation, cutout, color"):
        check_policies(["flip"], channels=3)
    from keras_gen.config import DIFFAUGMENT_POLICIES
    from keras_gen.families.augment import POLICIES

    assert DIFFAUGMENT_POLICIES == POLICIES


def test_train_py_diffaugment_trains_saves_and_resumes(tmp_path, tiny_mnist_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    common = ["--data-dir", str(tiny_mnist_dir), "--steps-per-epoch", "2", "--batch-size", "16", "--run-dir",
              str(run_dir), "--no-export"]
    assert train_main(["--model", "dcgan", "--diffaugment", "translation,cutout", "--limit", "256", "--epochs", "1",
                       *common]) == 0
    assert json.loads((run_dir / "config.json").read_text())["diffaugment"] == ["translation", "cutout"]
    assert train_main(["--resume", "--epochs", "2", *common]) == 0
    from keras_gen.rundir.checkpoints import load_checkpoint

    model = load_checkpoint(run_dir / "checkpoints" / "epoch-0002.keras")
    assert model.diffaugment == ["translation", "cutout"] and model.steps_trained == 4


# ------------------------------------------------------------------------------ ex-post latent sampler
@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, tiny_mnist_dir):
    tmp = tmp_path_factory.mktemp("vae")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        assert train_main(["--model", "vae_mlp", "--latent-dim", "4", "--data-dir", str(tiny_mnist_dir), "--epochs",
                           "1", "--run-dir", str(tmp / "run"), "--export-dir", str(tmp / "saved_models")]) == 0
    return tmp


def test_em_recovers_a_known_mixture():
    from keras_gen.utils.mixture import fit_gmm

    rng = np.random.default_rng(0)
    weights, means = np.array([0.5, 0.3, 0.2]), np.array([[-4.0, 0.0], [0.0, 4.0], [4.0, -1.0]])
    scales = np.array([[0.5, 1.0], [1.0, 0.3], [0.7, 0.7]])
    which = rng.choice(3, size=6000, p=weights)
    x = means[which] + scales[which] * rng.standard_normal((6000, 2))
    seen = []
    fit = fit_gmm(x, 3, covariance="diag", seed=1, progress=lambda i, ll: seen.append((i, ll)))
    assert [i for i, _ in seen] == list(range(1, fit["iterations"] + 1))  # one call per EM iteration
    assert all(b >= a - 1e-6 for (_, a), (_, b) in zip(seen, seen[1:]))  # EM never lowers the likelihood
    order = np.argsort(fit["means"][:, 0])
    np.testing.assert_allclose(fit["weights"][order], weights, atol=0.02)
    np.testing.assert_allclose(fit["means"][order], means, atol=0.06)
    np.testing.assert_allclose(np.sqrt(fit["variances"][order]), scales, rtol=0.06)
    true = np.log(sum(w * np.prod(np.exp(-0.5 * ((x - m) / sd) ** 2) / (np.sqrt(2 * np.pi) * sd), axis=1)
                      for w, m, sd in zip(weights, means, scales))).mean()
    assert abs(fit["log_likelihood"] - true) < 0.01  # as good as the model that made the data
    with pytest.raises(ValueError, match="needs at least 3 points"):
        fit_gmm(x[:2], 3)
    with pytest.raises(ValueError, match="covariance must be one of full, diag, got 'spherical'"):
        fit_gmm(x, 3, covariance="spherical")


def test_em_with_full_covariances_recovers_correlated_components():
    """Codes are correlated within a cluster; full covariances fit them, diagonal ones cannot."""
    from keras_gen.utils.mixture import fit_gmm

    rng = np.random.default_rng(0)
    weights, means = np.array([0.6, 0.4]), np.array([[-3.0, 0.0, 1.0], [3.0, 1.0, -1.0]])
    covs = np.array([[[1.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 0.5]],
                     [[0.5, -0.4, 0.0], [-0.4, 1.0, 0.0], [0.0, 0.0, 2.0]]])
    which = rng.choice(2, size=8000, p=weights)
    x = means[which] + np.einsum("nij,nj->ni", np.linalg.cholesky(covs)[which], rng.standard_normal((8000, 3)))
    fit = fit_gmm(x, 2, seed=3)
    assert fit["covariance"] == "full" and fit["scale_trils"].shape == (2, 3, 3)
    order = np.argsort(fit["means"][:, 0])
    np.testing.assert_allclose(fit["weights"][order], weights, atol=0.02)
    np.testing.assert_allclose(fit["means"][order], means, atol=0.06)
    trils = fit["scale_trils"][order]
    np.testing.assert_allclose(trils @ trils.transpose(0, 2, 1), covs, atol=0.08)
    np.testing.assert_array_equal(np.triu(trils, 1), 0)  # lower-triangular factors
    true = np.log(sum(w * np.exp(-0.5 * np.einsum("ni,ij,nj->n", x - m, np.linalg.inv(c), x - m))
                      / np.sqrt((2 * np.pi) ** 3 * np.linalg.det(c)) for w, m, c in zip(weights, means, covs))).mean()
    assert abs(fit["log_likelihood"] - true) < 0.01
    assert fit["log_likelihood"] > fit_gmm(x, 2, covariance="diag", seed=3)["log_likelihood"] + 0.2


def test_full_covariance_em_steps_match_the_textbook_formulas_across_blocks():
    """The full fit whitens and accumulates all components at once, block by block of points
    (mixture._CHUNK): both steps must equal the per-component formulas, over a partial last block."""
    from scipy.stats import multivariate_normal

    from keras_gen.utils import mixture

    rng = np.random.default_rng(5)
    n, k, d = 2 * mixture._CHUNK + 77, 4, 3
    x = rng.standard_normal((n, d)) * 2 + 5  # far from the origin: the second moments must not cancel badly
    weights, means = rng.dirichlet(np.ones(k)), x[rng.choice(n, k)]
    trils = np.linalg.cholesky(np.array([a @ a.T + 0.1 * np.eye(d) for a in rng.standard_normal((k, d, d))]))
    expected = np.stack([np.log(w) + multivariate_normal(m, t @ t.T).logpdf(x)
                         for w, m, t in zip(weights, means, trils)], axis=1)
    np.testing.assert_allclose(mixture._log_densities_full(x, weights, means, trils), expected, rtol=1e-10)
    responsibilities = rng.dirichlet(np.ones(k), size=n)
    responsibilities[:, -1] = 0.0  # a component no point belongs to: no spread, not a negative one
    mass = responsibilities.sum(axis=0) + 1e-12  # as fit_gmm's M step
    centres = responsibilities.T @ x / mass[:, None]
    expected = np.stack([(r[:, None] * (x - c)).T @ (x - c) / m for r, c, m in zip(responsibilities.T, centres, mass)])
    np.testing.assert_allclose(mixture._scatter_full(x, responsibilities, centres, mass), expected,
                               rtol=1e-9, atol=1e-12)


def test_a_fitted_sampler_draws_the_codes_mixture_and_survives_saving(mnist_train, tmp_path):
    import keras_gen

    model = keras_gen.build("vae_mlp", latent_dim=4)
    images = mnist_train[0][:1000]
    model.fit(images, epochs=1, batch_size=100, verbose=0)
    seeds = tf.constant(np.arange(2000), tf.int32)
    prior_z = model.latent_from_seeds(seeds).numpy()
    info = model.fit_latent_sampler(images, components=3)
    assert info["images"] == 1000 and info["components"] == 3 and info["covariance"] == "full"
    assert info["log_likelihood"] > info["prior_log_likelihood"]  # the mixture fits the codes better
    z = model.latent_from_seeds(seeds).numpy()
    codes = model.encoder_means(tf.data.Dataset.from_tensor_slices(images.astype(np.float32) / 255).batch(250))
    np.testing.assert_allclose(z.mean(axis=0), codes.mean(axis=0), atol=0.15)  # the codes' mean, not the prior's 0
    assert abs(prior_z.mean()) < 0.05
    # A seed still fixes its code: the same batch gives the same bits; a different batch size may
    # round the mixture's matmul differently in the last place (seen once in CI: 1 ulp).
    five = model.latent_from_seeds(seeds[:5]).numpy()
    np.testing.assert_array_equal(model.latent_from_seeds(seeds[:5]).numpy(), five)
    np.testing.assert_allclose(five, z[:5], rtol=1e-6, atol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.latent_sampler == {"components": 3, "covariance": "full"}
    np.testing.assert_array_equal(loaded.sample(seeds[:4]).numpy(), model.sample(seeds[:4]).numpy())
    with pytest.raises(ValueError, match="has 3 components with full covariances; refit it with 3 and full"):
        model.fit_latent_sampler(images, components=5)
    with pytest.raises(ValueError, match="has 3 components with full covariances"):
        model.fit_latent_sampler(images, components=3, covariance="diag")
    # Each draw is its component's mean + the covariance's Cholesky factor times the seed's noise
    eps = tf.constant(np.random.default_rng(1).standard_normal((64, 4)), tf.float32)
    at_mean = model.latent_from_noise(tf.zeros_like(eps), seeds[:64]).numpy()  # [64, 4]: the components' means
    component = np.abs(at_mean[:, None, :] - model.sampler_locs.numpy()[None]).sum(-1).argmin(axis=1)  # [64]
    np.testing.assert_allclose(at_mean, model.sampler_locs.numpy()[component], atol=1e-6)
    assert len(set(component)) > 1
    trils = model.sampler_scale_trils.numpy()[component]  # [64, 4, 4]
    np.testing.assert_allclose(model.latent_from_noise(eps, seeds[:64]).numpy() - at_mean,
                               np.einsum("nij,nj->ni", trils, eps.numpy()), atol=1e-5)
    # A diagonal sampler's scale is exp(log_scale); a model saved before "covariance" was in the
    # config (only "components") loads as that diagonal one.
    diagonal = keras_gen.build("vae_mlp", latent_dim=4)
    diagonal.encoder.set_weights(model.encoder.get_weights())
    diagonal.decoder.set_weights(model.decoder.get_weights())
    diagonal.fit_latent_sampler(images, components=3, covariance="diag")
    config = diagonal.get_config()
    assert config["latent_sampler"] == {"components": 3, "covariance": "diag"}
    old = type(diagonal).from_config({**config, "latent_sampler": {"components": 3}})
    old.set_weights(diagonal.get_weights())
    np.testing.assert_array_equal(old.latent_from_seeds(seeds[:6]).numpy(),
                                  diagonal.latent_from_seeds(seeds[:6]).numpy())
    at_mean = diagonal.latent_from_noise(tf.zeros_like(eps), seeds[:64]).numpy()
    component = np.abs(at_mean[:, None, :] - diagonal.sampler_locs.numpy()[None]).sum(-1).argmin(axis=1)
    np.testing.assert_allclose(diagonal.latent_from_noise(eps, seeds[:64]).numpy() - at_mean,
                               np.exp(diagonal.sampler_log_scales.numpy()[component]) * eps.numpy(), atol=1e-5)


def test_fit_sampler_exports_the_runs_next_version_and_leaves_its_checkpoints(vae_run, capsys):
    from keras_gen.cli import main as cli_main
    from keras_gen.rundir.checkpoints import load_checkpoint
    from keras_gen.serving.runtime import load_export

    run_dir, root = vae_run / "run", vae_run / "saved_models"
    before = (run_dir / "checkpoints" / "latest.json").read_text()
    assert cli_main(["fit-sampler", str(run_dir), "--components", "3", "--publish"]) == 0
    printed = capsys.readouterr().out
    assert "under the mixture" in printed and str(root / "vae_mlp_mnist" / "2") in printed
    assert re.search(r"^EM iteration 1: mean log-density -?\d+\.\d\d \(\d+\.\d s an iteration, at most 200\)$",
                     printed, re.M), printed  # a long fit shows it is running
    assert (run_dir / "checkpoints" / "latest.json").read_text() == before  # the run's own state is untouched
    info = json.loads((run_dir / "latent_sampler.json").read_text())
    assert info["components"] == 3 and info["images"] == 1024 and info["epoch"] == 1 and info["covariance"] == "full"
    export = load_export(root / "vae_mlp_mnist")  # the published version: the sampler's (--publish)
    assert export.path.name == "2" and export.metadata["latent_sampler"]["components"] == 3
    fitted = load_checkpoint(run_dir / "latent_sampler.keras")
    seeds = np.arange(8)
    np.testing.assert_allclose(export.sample(seeds), fitted.sample(tf.constant(seeds)), atol=1e-5)
    plain = load_export(root / "vae_mlp_mnist" / "1")
    assert not np.allclose(export.latent(seeds), plain.latent(seeds))  # drawn from the mixture, not N(0, I)
    np.testing.assert_allclose(export.generate(plain.latent(seeds)), plain.generate(plain.latent(seeds)), atol=1e-6)
    # keras-gen export knows the file's run: model and dataset
    assert cli_main(["export", str(run_dir / "latent_sampler.keras"), "--no-publish"]) == 0
    assert (root / "vae_mlp_mnist" / "3" / "saved_model.pb").is_file()
    assert load_export(root / "vae_mlp_mnist").path.name == "2"  # the published version, not the newest
    # The full covariances' gather-and-matvec converts: TFLite and ONNX draw the SavedModel's codes
    for fmt in ("tflite", "onnx"):
        assert cli_main(["export", str(run_dir / "latent_sampler.keras"), "--format", fmt]) == 0
        converted = load_export(root / fmt / "vae_mlp_mnist" / "1")
        np.testing.assert_allclose(converted.latent(seeds), export.latent(seeds), atol=1e-5)


def test_train_py_fits_the_sampler_after_training_and_exports_it(tmp_path, tiny_mnist_dir, capsys, monkeypatch):
    """--latent-sampler N: the run's export samples from its codes' mixture; set on --resume, the
    next export does (it applies after training, so a finished run can take it up)."""
    from keras_gen.rundir.checkpoints import load_checkpoint
    from keras_gen.serving.runtime import load_export

    monkeypatch.chdir(tmp_path)
    common = ["--data-dir", str(tiny_mnist_dir), "--run-dir", "run", "--export-dir", "saved_models", "--publish"]
    assert train_main(["--model", "vae_mlp", "--latent-dim", "4", "--epochs", "1", *common]) == 0
    assert not (tmp_path / "run" / "latent_sampler.keras").exists()
    capsys.readouterr()
    assert train_main(["--resume", "--epochs", "2", "--latent-sampler", "3", "--sampler-covariance", "diag",
                       *common]) == 0
    printed = capsys.readouterr().out
    assert "a 3-component latent mixture fitted after training (diagonal covariances)" in printed
    assert "fitting a 3-component mixture (diag covariances)" in printed and "under the mixture" in printed
    assert printed.count("SavedModel:") == 1
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["latent_sampler"] == 3 and saved["sampler_covariance"] == "diag"
    export = load_export(tmp_path / "saved_models" / "vae_mlp_mnist")
    assert export.path.name == "2" and export.metadata["latent_sampler"]["components"] == 3
    assert export.metadata["latent_sampler"]["covariance"] == "diag"
    assert export.metadata["epochs"] == 2 and export.metadata["latent_sampler"]["epoch"] == 2
    fitted = load_checkpoint(tmp_path / "run" / "latent_sampler.keras")
    seeds = np.arange(6)
    np.testing.assert_allclose(export.sample(seeds), fitted.sample(tf.constant(seeds)), atol=1e-5)
    plain = load_export(tmp_path / "saved_models" / "vae_mlp_mnist" / "1")
    assert not np.allclose(export.latent(seeds), plain.latent(seeds))


def test_fit_sampler_on_a_gan_is_one_line(ema_run, capsys):
    from keras_gen.cli import main as cli_main

    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit-sampler", str(ema_run["run_dir"]), "--no-export"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "mlp_gan_wide is a GAN: a latent sampler is fitted to a VAE's encoder" in err
    assert not (ema_run["run_dir"] / "latent_sampler.keras").exists()
