"""One battery for every model in the zoo: build and count, train steps, save/load, export, sampling.

Every registered model must declare its sub-networks' parameter counts (``parameters=``: the
reports' tables where they print one), and every build is held to them, so a new model cannot
join the zoo untested.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import models_zoo
from keras_gen.config import resolve_config
from keras_gen.datasets import build_train_set
from keras_gen.export.saved_model import export_model, read_metadata
from keras_gen.training.build import compile_model
from keras_gen.utils.errors import UserError

from conftest import REPO, load_in_plain_tensorflow

# Models too large to train in the fast suite get their own tests.
HEAVY = {"gan_faces_dense"}  # > 50M parameters: tests/test_zoo_families.py covers it under the slow marker
FAST = [n for n in models_zoo.names() if n not in HEAVY]
BATCH = 8


def trainable_count(net) -> int:
    return int(sum(np.prod(v.shape) for v in net.trainable_variables))


def small_batches(model, mnist_train, *, steps: int):
    """``steps`` real training batches fitted to the model's image shape and value range."""
    images, labels = mnist_train
    n = BATCH * model.data_batch_multiplier * steps
    source = tf.data.Dataset.from_tensor_slices((images[:n], labels[:n]))
    return build_train_set(source, image_shape=model.image_shape, value_range=model.value_range,
                           batch_size=BATCH * model.data_batch_multiplier, seed=0)


_TRAINED: dict = {}


@pytest.fixture(scope="module")
def trained(mnist_train):
    """name -> model compiled with its report's optimizers and trained for two real steps."""

    def get(name):
        if name not in _TRAINED:
            config = resolve_config(name, dataset="mnist")
            model = models_zoo.build(name, image_shape=config.image_shape,
                                     **({"num_classes": 10} if models_zoo.get(name).conditional else {}))
            before = {net.name: [w.numpy().copy() for w in net.weights] for net in model.sub_networks}
            compile_model(model, config)
            history = model.fit(small_batches(model, mnist_train, steps=2), epochs=1, verbose=0)
            _TRAINED[name] = (model, before, history.history)
        return _TRAINED[name]

    return get


def test_every_model_has_expected_counts():
    missing = [n for n in models_zoo.names() if not models_zoo.get(n).parameters]
    assert not missing, f"register parameters= for {missing}"


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in models_zoo.names()])
def test_counts_match_report(name):
    model = models_zoo.build(name)
    counts = {net.name: (net.count_params(), trainable_count(net)) for net in model.sub_networks}
    assert counts == models_zoo.get(name).parameters


@pytest.mark.parametrize("name", FAST)
def test_train_steps_update_every_network(name, trained):
    model, before, history = trained(name)
    assert model.steps_trained == 2
    for key, values in history.items():
        assert np.all(np.isfinite(values)), (key, values)
    for net in model.sub_networks:
        changed = [not np.array_equal(old, w.numpy()) for old, w in zip(before[net.name], net.weights)]
        # Every trainable weight moved; BatchNorm moving statistics moved too, which only happens
        # when train_step passes training=True to the sub-network.
        assert all(changed), (net.name, [w.path for w, c in zip(net.weights, changed) if not c])


@pytest.mark.parametrize("name", FAST)
def test_save_load_round_trip(name, trained, tmp_path):
    model, _, _ = trained(name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    assert restored.steps_trained == model.steps_trained
    z = tf.random.stateless_normal([3, model.latent_dim], seed=[1, 2])
    labels = tf.constant([0, 1, 2]) if model.conditional else None
    np.testing.assert_allclose(restored.generate(z, labels), model.generate(z, labels), atol=1e-6)
    for slot in model.optimizer_slots:
        saved = [v.numpy() for v in getattr(model, slot).variables]
        loaded = [v.numpy() for v in getattr(restored, slot).variables]
        assert len(saved) == len(loaded) > 2
        for a, b in zip(saved, loaded):
            np.testing.assert_array_equal(a, b)



# A fresh process that imports keras_gen and nothing else of the project, as a notebook would.
LOAD_AFTER_IMPORT_KERAS_GEN = r"""
import json, sys
import keras_gen, keras
import tensorflow as tf
out = {}
for path in sys.argv[1:]:
    model = keras.saving.load_model(path)
    labels = tf.constant([0, 1]) if model.conditional else None
    out[path] = {"class": type(model).__name__, "sample": model.sample(tf.constant([0, 1]), labels).numpy().tolist(),
                 "models_zoo": "models_zoo" in sys.modules}
print(json.dumps(out))
"""


def test_every_zoo_checkpoint_loads_after_import_keras_gen(trained, tmp_path):
    """``import keras_gen`` is enough for ``keras.saving.load_model``: every model's classes and
    custom layers register when Keras first looks one up (keras_gen/registration.py)."""
    import json

    from conftest import run

    paths = {}
    for name in FAST:
        paths[name] = tmp_path / f"{name}.keras"
        trained(name)[0].save(paths[name])
    proc = run(["-c", LOAD_AFTER_IMPORT_KERAS_GEN, *paths.values()], cwd=tmp_path, check=True)
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, path in paths.items():
        model, got = trained(name)[0], loaded[str(path)]
        assert got["class"] == type(model).__name__ and not got["models_zoo"], (name, got["class"])
        labels = tf.constant([0, 1]) if model.conditional else None
        np.testing.assert_allclose(got["sample"], model.sample(tf.constant([0, 1]), labels), atol=1e-5, err_msg=name)

@pytest.mark.parametrize("name", FAST)
def test_sampling_is_deterministic_per_seed(name, trained):
    model, _, _ = trained(name)
    labels = (tf.constant([0, 1, 2]), tf.constant([2, 7])) if model.conditional else (None, None)
    a = model.sample(tf.constant([0, 1, 2]), labels[0])
    b = model.sample(tf.constant([2, 7]), labels[1])
    assert a.shape == (3, *model.image_shape)
    assert float(tf.reduce_min(a)) >= 0.0 and float(tf.reduce_max(a)) <= 1.0
    np.testing.assert_allclose(a[2], b[0], atol=1e-5)
    z = model.latent_from_seeds(tf.constant([0, 1]))
    assert float(tf.reduce_min(tf.abs(z[0] - z[1]))) > 0.0  # independent draws per seed
    assert float(tf.reduce_max(tf.abs(a[0] - a[1]))) > 0.0


@pytest.fixture(scope="module")
def exports(trained, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    paths = {name: export_model(trained(name)[0], root, model_name=name, dataset="mnist", steps=2) for name in FAST}
    return paths, load_in_plain_tensorflow(*map(str, paths.values()))


@pytest.mark.parametrize("name", FAST)
def test_export_loads_in_plain_tensorflow(name, trained, exports):
    model, _, _ = trained(name)
    paths, loaded = exports
    info = loaded[str(paths[name])]
    assert info["keras_gen_imported"] is False
    sigs = info["signatures"]
    expected = {"sample", "generate", "latent", "serving_default"}
    expected |= {"encode", "decode", "reconstruct"} if model.family == "vae" else {"discriminate"}
    assert set(sigs) == expected
    h, w, c = model.image_shape
    assert sigs["sample"]["inputs"]["seed"] == [[None], "int32"]
    assert sigs["sample"]["outputs"]["images"] == [[None, h, w, c], "float32"]
    assert sigs["generate"]["inputs"]["z"] == [[None, model.latent_dim], "float32"]
    assert sigs["serving_default"] == sigs["sample"]
    if model.family == "vae":
        assert set(sigs["encode"]["outputs"]) == {"z_mean", "z_log_var"}
        assert sigs["reconstruct"]["outputs"]["images"] == [[None, h, w, c], "float32"]
    else:
        assert sigs["discriminate"]["outputs"]["score"] == [[None], "float32"]
    # The served images are the Keras model's images for the same seeds.
    labels = tf.constant([0, 1, 2, 3]) if model.conditional else None
    expected_images = model.sample(tf.constant([0, 1, 2, 3]), labels)
    np.testing.assert_allclose(np.array(info["sample"], np.float32), expected_images, atol=1e-5)
    meta = read_metadata(paths[name])
    assert meta["model"] == name and meta["dataset"] == "mnist" and meta["steps_trained"] == 2
    assert meta["image_shape"] == [h, w, c] and meta["latent_dim"] == model.latent_dim
    assert meta["num_classes"] == model.num_classes


def test_exports_are_versioned(trained, tmp_path):
    model, _, _ = trained("vae_mlp_2d")
    first = export_model(model, tmp_path, model_name="vae_mlp_2d", dataset="mnist", steps=2)
    second = export_model(model, tmp_path, model_name="vae_mlp_2d", dataset="mnist", steps=2, publish="always")
    assert (first.name, second.name) == ("1", "2")
    assert sorted(p.name for p in first.parent.iterdir()) == ["1", "2"]  # no temporary leftovers


@pytest.mark.parametrize("overrides, needle", [
    ({"latent_dim": 0}, "latent_dim must be positive"),
    ({"image_shape": (30, 30, 1)}, "multiples of 4"),
    ({"num_layers": 3}, "does not take num_layers"),
])
def test_bad_overrides_are_user_errors(overrides, needle):
    with pytest.raises(UserError, match=needle):
        models_zoo.build("dcgan", **overrides)


def test_unknown_model_lists_known_ones():
    with pytest.raises(UserError, match="known models: .*dcgan"):
        models_zoo.build("dcgann")


def test_docs_zoo_page_is_current():
    """docs/ZOO.md is generated from the registry (python -m models_zoo > docs/ZOO.md)."""
    from models_zoo.__main__ import markdown

    assert (REPO / "docs" / "ZOO.md").read_text() == markdown(), "regenerate: python -m models_zoo > docs/ZOO.md"
