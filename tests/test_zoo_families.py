"""The training families behind the zoo (WGAN, WGAN-GP, AC-GAN, auxiliary WGAN, conditional models,
mixture-prior VAE) and the zoo's per-model behaviour: sizes per dataset, face models on RGB, the
202M-parameter dense face GAN, bad sizes, summaries, and a conditional model that draws the digit
it is asked for (checked by a classifier trained here).

Family tests use tiny networks on real MNIST so each trains in a second or two; the zoo's own
networks go through the battery in test_zoo.py.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf
from keras import layers
from test_zoo import HEAVY

import models_zoo
from keras_gen.cli.train import main as train_main
from keras_gen.config import resolve_config
from keras_gen.datasets import build_train_set
from keras_gen.families import ACGAN, ACWGAN, WGAN
from keras_gen.training.build import build_model, compile_model, print_summary
from keras_gen.utils.errors import UserError

from conftest import assert_one_line_error, run_in_process

LATENT = 8
IMAGE = (28, 28, 1)


# --------------------------------------------------------------------------- tiny networks
def tiny_generator(*, num_classes=None):
    z = keras.Input((LATENT,), name="z")
    x, inputs = z, z
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        x = layers.Multiply()([z, layers.Embedding(num_classes, LATENT)(label)])
        inputs = [z, label]
    x = layers.Dense(28 * 28, activation="tanh")(layers.Dense(32, activation="relu")(x))
    return keras.Model(inputs, layers.Reshape(IMAGE)(x), name="generator")


def tiny_critic(*, num_classes=None, name="critic"):
    images = keras.Input(IMAGE, name="images")
    h = layers.LeakyReLU(0.2)(layers.Dense(32)(layers.Flatten()(images)))
    score = layers.Dense(1, use_bias=name == "discriminator")(h)  # a critic's bias gets no gradient
    outputs = [score, layers.Dense(num_classes)(h)] if num_classes else score
    return keras.Model(images, outputs, name=name)


def mnist_batches(mnist_train, *, batch, steps, multiplier=1, value_range="minus_one_one", offset=0):
    images, labels = mnist_train
    n = batch * multiplier * steps
    source = tf.data.Dataset.from_tensor_slices((images[offset:offset + n], labels[offset:offset + n]))
    return build_train_set(source, image_shape=IMAGE, value_range=value_range, batch_size=batch * multiplier, seed=0)


def fit(model, data, *, g_optimizer, d_optimizer):
    model.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer)
    return {k: v[-1] for k, v in model.fit(data, epochs=1, verbose=0).history.items()}


# --------------------------------------------------------------------------- WGAN
def test_wgan_clips_every_critic_weight_after_each_critic_step(mnist_train):
    model = WGAN(tiny_generator(), tiny_critic(), latent_dim=LATENT, image_shape=IMAGE, n_critic=5, clip_value=0.01)
    assert model.data_batch_multiplier == 5  # five fresh real batches per generator step
    # A large learning rate would push weights far past 0.01 without clipping.
    logs = fit(model, mnist_batches(mnist_train, batch=16, steps=3, multiplier=5),
               g_optimizer=keras.optimizers.RMSprop(5e-5), d_optimizer=keras.optimizers.SGD(1.0))
    assert model.g_optimizer.iterations.numpy() == 3
    assert model.d_optimizer.iterations.numpy() == 15  # n_critic critic updates per generator update
    weights = np.concatenate([v.numpy().ravel() for v in model.critic.trainable_variables])
    assert np.abs(weights).max() <= 0.01 + 1e-7
    assert np.mean(np.isclose(np.abs(weights), 0.01)) > 0.5  # the clip was active, not idle
    assert set(logs) == {"d_loss", "g_loss", "wasserstein"}
    # The critic loss is minus the Wasserstein estimate E[D(x)] - E[D(G(z))] when nothing is added.
    np.testing.assert_allclose(logs["d_loss"], -logs["wasserstein"], rtol=1e-5, atol=1e-8)


def test_interpolation_eps_is_uniform_and_per_example():
    model = WGAN(tiny_generator(), tiny_critic(), latent_dim=LATENT, image_shape=IMAGE, gp_weight=10.0)
    n = 4000
    x_hat, eps = model.interpolate(tf.ones([n, 4, 4, 1]), tf.zeros([n, 4, 4, 1]))
    x_hat, eps = x_hat.numpy(), eps.numpy()
    assert eps.shape == (n, 1, 1, 1)
    np.testing.assert_allclose(x_hat, np.broadcast_to(eps, x_hat.shape), atol=1e-6)  # one eps per example
    assert eps.min() >= 0.0 and eps.max() <= 1.0
    assert scipy.stats.kstest(eps.ravel(), "uniform").pvalue > 1e-3  # U(0, 1), not a normal draw
    assert scipy.stats.kstest(eps.ravel(), "norm").pvalue < 1e-10


def test_gradient_penalty_of_a_linear_critic_is_exact():
    images = keras.Input(IMAGE)
    critic = keras.Model(images, layers.Dense(1, use_bias=False)(layers.Flatten()(images)), name="critic")
    critic.layers[-1].kernel.assign(tf.fill([28 * 28, 1], 0.1))  # grad_x D = w everywhere: ||w|| = 2.8
    model = WGAN(tiny_generator(), critic, latent_dim=LATENT, image_shape=IMAGE, gp_weight=10.0)
    real = tf.random.stateless_uniform([5, *IMAGE], seed=[1, 2])
    fake = tf.random.stateless_uniform([5, *IMAGE], seed=[3, 4])
    np.testing.assert_allclose(model.gradient_penalty(real, fake), np.full(5, (2.8 - 1.0) ** 2), rtol=1e-4)


def test_wgan_gp_trains_logs_the_penalty_and_round_trips(mnist_train, tmp_path):
    model = WGAN(tiny_generator(), tiny_critic(), latent_dim=LATENT, image_shape=IMAGE, n_critic=2, gp_weight=10.0)
    critic_before = [v.numpy().copy() for v in model.critic.trainable_variables]
    logs = fit(model, mnist_batches(mnist_train, batch=16, steps=2, multiplier=2),
               g_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9),
               d_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9))
    assert set(logs) == {"d_loss", "g_loss", "wasserstein", "gradient_penalty"}
    assert all(np.isfinite(v) for v in logs.values()) and logs["gradient_penalty"] > 0
    assert all(not np.array_equal(a, v.numpy()) for a, v in zip(critic_before, model.critic.trainable_variables))
    model.save(tmp_path / "wgan_gp.keras")
    restored = keras.saving.load_model(tmp_path / "wgan_gp.keras")
    assert type(restored) is WGAN
    assert (restored.n_critic, restored.clip_value, restored.gp_weight) == (2, None, 10.0)
    images = tf.random.stateless_uniform([3, *IMAGE], seed=[5, 6], minval=-1.0)
    np.testing.assert_allclose(restored.score(images), model.score(images), atol=1e-6)  # the critic's value


def test_wgan_needs_a_lipschitz_constraint():
    with pytest.raises(ValueError, match="clip_value .* or gp_weight"):
        WGAN(tiny_generator(), tiny_critic(), latent_dim=LATENT, image_shape=IMAGE)


# --------------------------------------------------------------------------- AC-GAN, auxiliary WGAN
def test_acgan_discriminator_learns_the_classes(mnist_train, mnist_test):
    keras.utils.set_random_seed(0)
    model = ACGAN(tiny_generator(num_classes=10), tiny_critic(num_classes=10, name="discriminator"),
                  latent_dim=LATENT, image_shape=IMAGE, num_classes=10)
    logs = fit(model, mnist_batches(mnist_train, batch=32, steps=60),
               g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), d_optimizer=keras.optimizers.Adam(2e-3))
    assert {"d_loss", "g_loss", "d_real", "d_fake", "class_acc"} <= set(logs)
    assert logs["class_acc"] > 0.3
    x, y = mnist_test
    held_out = model.classify(tf.cast(x[:500], tf.float32) / 127.5 - 1.0)
    assert np.mean(np.argmax(held_out, -1) == y[:500]) > 0.6  # chance is 0.1


def test_acgan_generator_is_trained_on_the_class_loss(mnist_train):
    """With the discriminator frozen, generator steps alone make G(z, c) look like class c to it."""
    keras.utils.set_random_seed(1)
    model = ACGAN(tiny_generator(num_classes=10), tiny_critic(num_classes=10, name="discriminator"),
                  latent_dim=LATENT, image_shape=IMAGE, num_classes=10)
    head = model.discriminator.layers[-1]  # the class head: sharpen it so a fixed classifier is decisive
    head.kernel.assign(head.kernel * 10.0)
    z = tf.random.stateless_normal([200, LATENT], seed=[7, 8])
    c = tf.constant(np.arange(200) % 10, tf.int32)

    def class_loss():
        logits = model.classify(model.generate(z, c))
        return float(tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=c, logits=logits)))

    before = class_loss()
    fit(model, mnist_batches(mnist_train, batch=32, steps=40),
        g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.SGD(0.0))
    assert class_loss() < before - 0.5  # nats; the adversarial term alone has no reason to move it


def test_acwgan_trains_critic_and_class_head(mnist_train):
    model = ACWGAN(tiny_generator(num_classes=10), tiny_critic(num_classes=10), latent_dim=LATENT,
                   image_shape=IMAGE, num_classes=10, n_critic=2, clip_value=0.01)
    logs = fit(model, mnist_batches(mnist_train, batch=16, steps=2, multiplier=2),
               g_optimizer=keras.optimizers.RMSprop(5e-5), d_optimizer=keras.optimizers.RMSprop(5e-5))
    assert set(logs) == {"d_loss", "g_loss", "wasserstein", "class_acc"}
    assert all(np.isfinite(v) for v in logs.values())
    assert max(float(np.abs(v.numpy()).max()) for v in model.critic.trainable_variables) <= 0.01 + 1e-7


@pytest.mark.parametrize("name", [n for n in models_zoo.names() if models_zoo.get(n).conditional])
def test_conditional_models_use_the_label(name):
    model = models_zoo.build(name, image_shape=models_zoo.get(name).image_shape, num_classes=10)
    assert model.conditional and model.num_classes == 10
    z = tf.random.stateless_normal([4, model.latent_dim], seed=[1, 1])
    zeros, ones = tf.zeros([4], tf.int32), tf.ones([4], tf.int32)
    assert float(tf.reduce_max(tf.abs(model.generate(z, zeros) - model.generate(z, ones)))) > 1e-4
    if model.family == "gan":
        images = model.generate(z, zeros)
        label_changes_score = not np.allclose(model.score(images, zeros), model.score(images, ones))
        # cGAN's discriminator reads the label; an auxiliary classifier predicts it instead.
        assert label_changes_score == (name == "cgan")


# --------------------------------------------------------------------------- VAEs
def test_vae_faces_prior_is_a_learnable_two_gaussian_mixture_and_sampling_uses_it():
    model = models_zoo.build("vae_faces")
    prior = model.prior()
    assert type(prior).__name__ == "MixtureSameFamily" and prior.mixture_distribution.logits.shape == (2,)
    assert model.kl == "monte_carlo"
    model.prior_locs.assign(np.stack([np.full(200, 8.0), np.full(200, -8.0)]).astype("float32"))
    model.prior_log_scales.assign(np.full((2, 200), np.log(0.1), "float32"))
    z = model.latent_from_seeds(tf.range(200)).numpy()
    means = z.mean(axis=1)
    # Every draw sits on one of the two components (never near N(0, I)'s origin), and both occur.
    assert np.all(np.abs(np.abs(means) - 8.0) < 0.1)
    assert 40 < np.sum(means > 0) < 160


@pytest.mark.parametrize("name", ["dcgan_faces", "vae_faces"])
def test_face_models_train_on_rgb(name):
    model = models_zoo.build(name)
    assert model.image_shape == (128, 128, 3)
    rng = np.random.default_rng(0)
    n = 4 * model.data_batch_multiplier * 2
    source = tf.data.Dataset.from_tensor_slices((rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8),
                                                 np.full(n, -1, np.int32)))
    data = build_train_set(source, image_shape=model.image_shape, value_range=model.value_range,
                           batch_size=4 * model.data_batch_multiplier, seed=0)
    prior_before = model.prior_locs.numpy().copy() if name == "vae_faces" else None
    compile_model(model, resolve_config(name, dataset="celeba"))
    history = model.fit(data, epochs=1, verbose=0).history
    assert model.steps_trained == 2 and all(np.all(np.isfinite(v)) for v in history.values())
    if prior_before is not None:  # the mixture is learned with the model: it is in the loss
        assert not np.array_equal(prior_before, model.prior_locs.numpy())
    images = model.sample(tf.constant([0, 1, 2]))
    assert images.shape == (3, 128, 128, 3)


@pytest.mark.parametrize("name", ["dcgan_faces", "vae_faces"])
def test_face_models_build_at_256(name):
    model = models_zoo.build(name, image_shape=(256, 256, 3))
    assert model.generate(tf.zeros([1, model.latent_dim])).shape == (1, 256, 256, 3)


@pytest.mark.parametrize("name", ["vae_deconv", "cvae"])
def test_vae_deconv_latent_is_2_on_mnist_and_300_elsewhere(name):
    assert resolve_config(name, dataset="mnist").latent_dim == 2
    assert resolve_config(name, dataset="fashion_mnist").latent_dim == 300
    assert resolve_config(name, dataset="cifar10").latent_dim == 300
    assert resolve_config(name, dataset="fashion_mnist", latent_dim=16).latent_dim == 16  # the user wins
    model = build_model(resolve_config(name, dataset="fashion_mnist"), num_classes=10)
    z_mean, _ = model.encode(tf.zeros([1, 28, 28, 1]), tf.zeros([1], tf.int32) if model.conditional else None)
    assert model.latent_dim == 300 and z_mean.shape == (1, 300)
    assert resolve_config("vae_conv", dataset="fashion_mnist").latent_dim is None  # others keep their builder's


# --------------------------------------------------------------------------- bad input, CLI
@pytest.mark.parametrize("name, overrides, needle", [
    ("dcgan_32", {"image_shape": (28, 28, 1)}, "makes 32x32 images"),
    ("acgan", {"image_shape": (30, 30, 1)}, "multiples of 4"),
    ("acgan", {"image_shape": (16, 16, 1)}, "at least 20"),
    ("acgan", {"num_classes": 1}, "num_classes must be at least 2"),
    ("vae_deconv", {"image_shape": (27, 27, 1)}, "multiples of 2"),
    ("dcgan_faces", {"image_shape": (100, 100, 3)}, "multiples of 16"),
    ("vae_faces", {"prior_components": 0}, "prior_components"),
    ("wgan_gp", {"latent_dim": 0}, "latent_dim must be positive"),
    ("cvae", {"latent_dim": -3}, "latent_dim must be positive"),
    ("mlp_gan", {"latent_dim": 0}, "latent_dim must be positive"),
    ("wgan", {"image_shape": (30, 30, 1)}, "multiples of 4"),
])
def test_bad_sizes_are_user_errors(name, overrides, needle):
    with pytest.raises(UserError, match=needle) as err:
        models_zoo.build(name, **overrides)
    assert "\n" not in str(err.value) and str(err.value).startswith(f"model {name}: ")


@pytest.fixture()
def unlabelled_folder(tmp_path):
    """A flat folder of eight PNG images: the ``folder`` dataset without classes."""
    rng = np.random.default_rng(0)
    for i in range(8):
        png = tf.io.encode_png(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).numpy()
        (tmp_path / "images" / f"{i}.png").parent.mkdir(exist_ok=True)
        (tmp_path / "images" / f"{i}.png").write_bytes(png)
    return tmp_path / "images"


@pytest.mark.parametrize("name", ["cgan", "cvae"])
def test_conditional_model_on_unlabelled_data_is_a_one_line_error_before_training(name, unlabelled_folder,
                                                                                  tmp_path, capsys):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--model", name, "--dataset", "folder", "--data-dir", str(unlabelled_folder),
                    "--run-dir", str(run_dir), "--epochs", "1", "--batch-size", "4"])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"model {name} is conditional and needs class labels" in lines[0], lines
    assert not run_dir.exists()  # nothing trained or written


def test_cli_rejects_a_size_the_generator_cannot_make(tmp_path):
    proc = run_in_process(["train.py", "--model", "wgan", "--image-size", "30", "--run-dir", tmp_path / "run"])
    assert_one_line_error(proc, "model wgan", "30x30x1", "multiples of 4")
    assert not (tmp_path / "run").exists()


def test_list_models_lists_the_whole_zoo(capsys):
    assert train_main(["--list-models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[0] for line in out) == models_zoo.names()
    row = next(line for line in out if line.startswith("vae_faces "))
    assert "Junnuthula (002)" in row and "celeba 128x128x3" in row


@pytest.mark.parametrize("name", [n for n in models_zoo.names() if n not in HEAVY])
def test_summary_prints_the_reports_counts(name):
    entry = models_zoo.get(name)
    config = resolve_config(name)  # the report's dataset and size
    lines = []
    print_summary(config, out=lines.append)
    text = "\n".join(lines)
    assert text.startswith(f"{name}: {entry.family}, {entry.report}")
    for net, (total, trainable) in entry.parameters.items():
        assert f'"{net}"' in text
        assert f"Total params: {total:,} " in text and f"Trainable params: {trainable:,} " in text
        assert f"{net}: {total:,} parameters ({trainable:,} trainable); reference {total:,} ({trainable:,} " \
               f"trainable), {entry.parameters_source}: matches" in text


def test_train_py_summary_end_to_end():
    proc = run_in_process(["train.py", "--model", "acgan", "--summary"], check=True)
    for figure in ("Total params: 2,657,897", "Trainable params: 2,657,321", "Total params: 525,835"):
        assert figure in proc.stdout


# --------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_gan_faces_dense_builds_summarises_and_trains_one_step():
    import resource

    lines = []
    config = resolve_config("gan_faces_dense", dataset="celeba", batch_size=2)
    print_summary(config, out=lines.append)
    text = "\n".join(lines)
    assert "Total params: 202,238,720 " in text and "Non-trainable params: 3,584 " in text
    assert "Total params: 100,795,393 " in text

    model = models_zoo.build("gan_faces_dense")
    compile_model(model, config)
    last = model.generator.layers[-2]  # Dense(196608)
    bias_before, kernel_before = last.bias.numpy().copy(), last.kernel[:4].numpy().copy()
    rng = np.random.default_rng(0)
    source = tf.data.Dataset.from_tensor_slices((rng.integers(0, 256, (2, 256, 256, 3), dtype=np.uint8),
                                                 np.full(2, -1, np.int32)))
    data = build_train_set(source, image_shape=(256, 256, 3), value_range="minus_one_one", batch_size=2, seed=0)
    history = model.fit(data, epochs=1, verbose=0).history
    assert model.steps_trained == 1 and all(np.isfinite(v[-1]) for v in history.values())
    assert not np.array_equal(bias_before, last.bias.numpy())
    assert not np.array_equal(kernel_before, last.kernel[:4].numpy())
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kilobytes on Linux
    assert peak_gib < 16, peak_gib  # the machine has 24 GB


@pytest.mark.slow
def test_cvae_draws_the_digit_it_is_asked_for(mnist_train, mnist_test, tmp_path):
    """cvae trained for one epoch on 6,000 MNIST images (well under two minutes, through ``train`` and
    its SavedModel export) draws the asked-for digit; a CNN trained here (> 97%) reads them."""
    keras.utils.set_random_seed(0)
    (xtr, ytr), (xte, yte) = mnist_train, mnist_test
    classifier = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dropout(0.3), layers.Dense(10),
    ])
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    classifier.fit(xtr.astype(np.float32) / 255.0, ytr, batch_size=64, epochs=1, verbose=0)
    _, accuracy = classifier.evaluate(xte.astype(np.float32) / 255.0, yte, verbose=0)
    assert accuracy > 0.97

    from keras_gen.training.run import train

    config = resolve_config("cvae", dataset="mnist", epochs=1, limit=6000, run_dir=str(tmp_path / "run"),
                            export_dir=str(tmp_path / "exports"), verbose=0)
    result = train(config, out=lambda *a: None)
    served = tf.saved_model.load(str(result.export_path))  # the exported ``sample`` signature, with labels
    labels = np.repeat(np.arange(10), 20).astype(np.int32)
    images = served.signatures["sample"](seed=tf.range(200, dtype=tf.int32), label=tf.constant(labels))["images"]
    predicted = np.argmax(classifier.predict(images.numpy(), verbose=0), axis=-1)
    per_label = [float(np.mean(predicted[labels == c] == c)) for c in range(10)]
    assert min(per_label) >= 0.8, per_label
    assert np.mean(predicted == labels) >= 0.9
