"""docs/api.md as a user runs it: its Python blocks, in order, in one fresh process (the same
statements a notebook would hold), on real MNIST from data/mnist; plus the API's input checks."""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import REPO, run

DOC = REPO / "docs" / "api.md"


def test_the_api_page_runs_as_written(tmp_path, inception_cache):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 5
    # The session's small MNIST classifier in the default slot: evaluate finds it as a user's cache
    # would; the FID Inception weights already converted, as after a user's first `keras-gen fid`.
    proc = run(["-c", "\n".join(blocks)], cwd=tmp_path, timeout=900, env={"KERAS_GEN_CACHE": str(inception_cache)})
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    assert "VAE 16 (28, 28, 1) zero_one" in out
    assert "Adam SGD" in out  # compile() filled the slot it was not given with the report's optimizer
    assert "True lower" in out  # evaluate measured the model object
    assert (tmp_path / "evaluations" / "my_vae" / "metrics.json").is_file()
    assert "tflite (2, 28, 28, 1)" in out
    assert "latents must be a float array of shape [B, 16], got float32 [4, 2]" in out
    assert "float images must be in [0, 1], got values in [0, 255]" in out
    assert "(4, 28, 28, 1) 0.0" in out  # sample(seeds) == generate_unit(latent_from_seeds(seeds))
    assert "\nTrue\n" in out  # the loaded model has the saved one's step count
    assert "(8, 28, 28, 1) True" in out  # interpolate starts at the first seed's own image
    assert "['a', 'b', 'convention', 'fid'] 64 64" in out
    assert (tmp_path / "saved_models" / "my_vae_mnist" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "saved_models" / "tflite" / "my_vae_mnist" / "1" / "model.tflite").is_file()
    assert "saved_models/my_vae_mnist/2 1\n" in out and "True 2\n" in out  # exported unpublished, then published
    assert "versions: 2" in (tmp_path / "saved_models" / "models.config").read_text()
    assert out.rstrip().endswith("(2, 28, 28, 1)")  # the least-squares GAN trained and sampled


def test_fit_checks_arrays_and_scales_them(mnist_train):
    import keras_gen

    model = keras_gen.build("mlp_gan")  # a tanh generator: trains on [-1, 1]
    images = mnist_train[0][:256]
    for bad, needle in ((images[:, :20], "images must be [N, 28, 28, 1]"),
                        (images.astype(np.float32) - 1.0, "must be in [0, 1]"),
                        (np.full((256, 28, 28, 1), np.nan, np.float32), "NaN"),
                        (images.astype(np.int64), "uint8 or floating point"),
                        (images[:10], "fewer than one batch")):
        with pytest.raises(ValueError, match=re.escape(needle)):
            model.fit(bad, epochs=1, batch_size=64, verbose=0)
    from keras_gen.datasets.pipeline import images_dataset

    batch = next(iter(images_dataset(images, image_shape=(28, 28, 1), value_range="minus_one_one", batch_size=64)))
    assert batch[0].shape == (64, 28, 28, 1) and float(batch[0].numpy().min()) == -1.0
    history = model.fit(images[:, :, :, 0], epochs=1, batch_size=64, verbose=0)  # [N, H, W] works for one channel
    assert model.steps_trained == 256 // 64 and np.isfinite(history.history["g_loss"]).all()


def test_conditional_models_need_their_labels(mnist_train):
    import keras_gen

    model = keras_gen.build("cgan")
    images, labels = mnist_train[0][:128], mnist_train[1][:128]
    with pytest.raises(ValueError, match="the model is conditional: pass y"):
        model.fit(images, epochs=1, batch_size=64, verbose=0)
    with pytest.raises(ValueError, match="integer class ids in 0..9"):
        model.fit(images, labels + 10, epochs=1, batch_size=64, verbose=0)
    model.fit(images, labels, epochs=1, batch_size=64, verbose=0)
    assert model.steps_trained == 2


def test_the_readme_api_snippet_runs(tmp_path):
    """The README's Python API block, on 512 images for one epoch instead of 60,000 for five."""
    section = (REPO / "README.md").read_text().split("\n## Python API\n", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    small = snippet.replace('load_images("mnist")', 'load_images("mnist", limit=512)').replace("epochs=5", "epochs=1")
    assert small.count("limit=512") == 1 and "epochs=1" in small
    proc = run(["-c", small + "\nprint(tuple(samples.shape))\n"], cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "(4, 28, 28, 1)"
    assert (tmp_path / "saved_models" / "my_vae_mnist" / "1" / "saved_model.pb").is_file()


def test_the_package_exposes_the_api_by_name():
    import keras_gen
    from keras_gen import api

    assert set(keras_gen._API) == set(api.__all__)
    assert all(callable(getattr(keras_gen, name)) for name in api.__all__)


def test_compile_without_optimizers_needs_a_zoo_model():
    import keras

    import keras_gen
    from keras_gen.families import VAE

    zoo = keras_gen.build("vae_mlp", compile=False)
    zoo.compile()
    assert type(zoo.optimizer).__name__ == "Adam"
    hand_made = VAE(zoo.encoder, zoo.decoder, latent_dim=zoo.latent_dim, image_shape=zoo.image_shape,
                    value_range=zoo.value_range)
    with pytest.raises(ValueError, match=r"VAE.compile\(\) needs optimizer=: this model was not built from the zoo"):
        hand_made.compile()
    hand_made.compile(keras.optimizers.Adam(1e-3))
    assert hand_made.optimizer.built
