"""IDX files, where datasets are found, and the input pipeline."""

from __future__ import annotations

import gzip
import hashlib
import shutil

import numpy as np
import pytest
import tensorflow as tf

from keras_gen.datasets import idx, pipeline, registry
from keras_gen.utils.errors import UserError

from conftest import MNIST_DIR, write_idx, write_idx_dataset

FASHION_SYSTEM_DIR = registry.SYSTEM_DATA_DIRS[0] / "fashion-mnist"


def test_shipped_mnist_is_the_official_release(mnist_train, mnist_test):
    raw = gzip.decompress((MNIST_DIR / "train-images-idx3-ubyte.gz").read_bytes())
    assert hashlib.md5(raw).hexdigest() == "6bbc9ace898e44ae57da46a324031adb"
    (x, y), (xt, _) = mnist_train, mnist_test
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.uint8
    assert xt.shape == (10000, 28, 28, 1)
    assert sorted(np.unique(y)) == list(range(10)) and y.dtype == np.int32
    assert y[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first labels of the training set


def test_idx_round_trip_gzipped_and_plain(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(idx.read_idx(write_idx(tmp_path / "a-idx3-ubyte.gz", array)), array)
    np.testing.assert_array_equal(idx.read_idx(write_idx(tmp_path / "b-idx3-ubyte", array)), array)


@pytest.mark.parametrize("damage, needle", [
    (lambda raw: raw[:-10], "truncated"),
    (lambda raw: b"\x00\x00\x99\x03" + raw[4:], "not an IDX file"),
    (lambda raw: raw[:6], "truncated"),
])
def test_corrupt_idx_files_are_user_errors(tmp_path, damage, needle):
    path = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((4, 5, 5), np.uint8))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(UserError, match=needle):
        idx.read_idx(path)


def test_bad_gzip_is_a_user_error(tmp_path):
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abcde")[:-6])
    with pytest.raises(UserError, match="cannot read"):
        idx.read_idx(path)


def test_explicit_data_dir_never_falls_back(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        registry.find_source("mnist", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="does not hold mnist"):
        registry.find_source("mnist", tmp_path / "empty")


def test_source_order(tmp_path, monkeypatch, tiny_mnist_dir):
    # Repository copy by default ...
    monkeypatch.delenv("KERAS_GEN_DATA", raising=False)
    assert registry.find_source("mnist").directory == registry.REPO_DATA_DIR / "mnist"
    # ... $KERAS_GEN_DATA/<name> before it ...
    shutil.copytree(tiny_mnist_dir, tmp_path / "mnist")
    monkeypatch.setenv("KERAS_GEN_DATA", str(tmp_path))
    assert registry.find_source("mnist").directory == tmp_path / "mnist"
    # ... and --data-dir before everything.
    assert registry.find_source("mnist", MNIST_DIR).directory == MNIST_DIR
    # Nothing local: a clear error saying what to put where, never a download unless asked for.
    monkeypatch.setattr(registry, "REPO_DATA_DIR", tmp_path / "nowhere")
    monkeypatch.setattr(registry, "SYSTEM_DATA_DIRS", ())
    monkeypatch.setenv("KERAS_GEN_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="not on this machine; put the four IDX files .* in .*nowhere.*--download"):
        registry.find_source("mnist")
    # --download: TensorFlow Datasets, after checking the network can be reached (it cannot here).
    monkeypatch.setattr(registry, "TFDS_PROBE", ("127.0.0.1", 9))  # a closed port: fails at once anywhere
    with pytest.raises(UserError, match="--download: cannot reach 127.0.0.1"):
        registry.find_source("mnist", download=True)
    monkeypatch.setattr(registry, "check_online", lambda spec: None)
    assert registry.find_source("mnist", download=True).location == "tensorflow-datasets:mnist"


@pytest.mark.skipif(not FASHION_SYSTEM_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist (.ci/run does)")
def test_fashion_mnist_found_in_debian_location(monkeypatch):
    monkeypatch.delenv("KERAS_GEN_DATA", raising=False)
    source = registry.find_source("fashion_mnist")
    assert source.directory == FASHION_SYSTEM_DIR
    images, labels = next(iter(source.load("test").batch(10_000)))
    assert images.shape == (10000, 28, 28, 1) and sorted(np.unique(labels)) == list(range(10))


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(UserError, match="known datasets: .*mnist"):
        registry.find_source("mnits")


def test_prepare_image_pads_small_differences_with_zeros():
    image = tf.fill([28, 28, 1], tf.constant(200, tf.uint8))
    out = pipeline.prepare_image(image, image_shape=(32, 32, 1))
    assert out.shape == (32, 32, 1) and out.dtype == tf.uint8
    assert int(tf.reduce_max(out[:2])) == 0 and int(tf.reduce_max(out[:, -2:])) == 0
    assert int(tf.reduce_min(out[2:30, 2:30])) == 200


def test_prepare_image_crops_to_aspect_and_resizes_and_converts_channels():
    # A 40x80 image: the left and right quarters are 0, the centre 40x40 is 255.
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 20:60] = 255
    out = pipeline.prepare_image(tf.constant(image), image_shape=(16, 16, 1))
    assert out.shape == (16, 16, 1)
    assert int(tf.reduce_min(out)) == 255  # the centre crop kept only the bright square
    rgb = pipeline.prepare_image(tf.zeros([28, 28, 1], tf.uint8), image_shape=(64, 64, 3))
    assert rgb.shape == (64, 64, 3)


@pytest.mark.parametrize("value_range, lo, hi", [("minus_one_one", -1.0, 1.0), ("zero_one", 0.0, 1.0)])
def test_build_train_set_batches_in_the_model_range(mnist_train, value_range, lo, hi):
    x, y = mnist_train
    ds = pipeline.build_train_set(tf.data.Dataset.from_tensor_slices((x[:100], y[:100])), image_shape=(28, 28, 1),
                              value_range=value_range, batch_size=32, seed=3)
    batches = list(ds)
    assert len(batches) == 3  # drop_remainder: 100 // 32
    images, labels = batches[0]
    assert images.shape == (32, 28, 28, 1) and images.dtype == tf.float32 and labels.dtype == tf.int32
    assert float(tf.reduce_min(images)) == lo and float(tf.reduce_max(images)) == hi
    # The same seed gives the same order; every epoch reshuffles.
    again = list(pipeline.build_train_set(tf.data.Dataset.from_tensor_slices((x[:100], y[:100])),
                                          image_shape=(28, 28, 1), value_range=value_range, batch_size=32, seed=3))
    np.testing.assert_array_equal(batches[0][1], again[0][1])
    assert not np.array_equal(np.concatenate([b[1] for b in batches]), np.concatenate([b[1] for b in list(ds)]))


def test_build_train_set_resizes_for_dcgan_32(mnist_train):
    x, y = mnist_train
    ds = pipeline.build_train_set(tf.data.Dataset.from_tensor_slices((x[:64], y[:64])), image_shape=(32, 32, 1),
                              value_range="minus_one_one", batch_size=16, seed=0, limit=32)
    batches = list(ds)
    assert len(batches) == 2 and batches[0][0].shape == (16, 32, 32, 1)
    assert float(tf.reduce_max(batches[0][0][:, :2])) == -1.0  # zero padding is the background


def test_write_idx_dataset_is_found_as_mnist(tmp_path, mnist_train, mnist_test):
    (x, y), (xt, yt) = mnist_train, mnist_test
    write_idx_dataset(tmp_path, (x[:10], y[:10]), (xt[:5], yt[:5]), gz=False)
    images, labels = next(iter(registry.find_source("mnist", tmp_path).load("train").batch(100)))
    np.testing.assert_array_equal(images, x[:10])
    np.testing.assert_array_equal(labels, y[:10])
