"""Publishing is a decision (issue 28, item 6): a new export is served only if it measures at least
as well as the served version; ``--publish``/``--no-publish`` and ``keras-gen publish`` decide by
hand; ``models.config`` pins what is served and ``keras-gen serve`` serves the same."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

import keras_gen
from keras_gen.cli import main as cli_main
from keras_gen.evaluation.extractors import CACHE_ENV
from keras_gen.export.from_run import dataset_label
from keras_gen.serving.repository import ApiError, ModelRepository

from conftest import assert_one_line_error, run_in_process


def served_config(root) -> dict:
    """``{name: [pinned versions] or "latest"}`` as TF Serving reads ``models.config``."""
    text = "\n".join(line for line in (root / "models.config").read_text().splitlines() if not line.startswith("#"))
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    return {c.name: list(c.model_version_policy.specific.versions) or "latest"
            for c in config.model_config_list.config}


@pytest.fixture(scope="module")
def models(mnist_train):
    """vae_mlp_2d trained for two epochs on 2,000 images (good), and the same model untrained (bad)."""
    good = keras_gen.build("vae_mlp_2d")
    good.fit(mnist_train[0][:2000], epochs=2, batch_size=100, verbose=0)
    return good, keras_gen.build("vae_mlp_2d")


@pytest.fixture
def small_classifier(default_slot_cache, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(default_slot_cache))


def test_a_worse_export_is_kept_but_not_served_until_published(models, small_classifier, tmp_path, capsys):
    good, bad = models
    root = tmp_path / "saved_models"
    first = keras_gen.export_model(good, root, name="vae", dataset="mnist")
    assert served_config(root) == {"vae_mnist": [1]}  # the first version is published, and pinned
    second = keras_gen.export_model(bad, root, name="vae", dataset="mnist")
    assert second.name == "2" and (second / "saved_model.pb").is_file()  # exported ...
    assert served_config(root) == {"vae_mnist": [1]}  # ... not served
    state = json.loads((root / "publishing.json").read_text())["models"]["vae_mnist"]
    decision = state["log"][-1]
    assert decision["version"] == 2 and decision["decision"] == "not published"
    assert "is above the served version 1's" in decision["reason"], decision
    assert state["evaluations"]["2"]["fid"] > state["evaluations"]["1"]["fid"]
    assert state["evaluations"]["1"]["settings"]["samples"] == 2000

    # keras-gen serve serves what TF Serving would: version 1 only.
    repo = ModelRepository([root])
    assert [v.version for v in repo.versions("vae_mnist")] == [1]
    with pytest.raises(ApiError, match="no version 2 served"):
        repo.get("vae_mnist", 2)

    # By hand: keras-gen publish (a rollback is the same command with an older version).
    capsys.readouterr()
    assert cli_main(["publish", str(root / "vae_mnist"), "--version", "2"]) == 0
    assert "vae_mnist version 2 published: keras-gen publish" in capsys.readouterr().out
    assert served_config(root) == {"vae_mnist": [2]}
    repo.refresh()
    assert [v.version for v in repo.versions("vae_mnist")] == [2]

    # Measured against the served version 2 now, the good model wins, and its figure is reused.
    third = keras_gen.export_model(good, root, name="vae", dataset="mnist")
    assert served_config(root) == {"vae_mnist": [3]}
    state = json.loads((root / "publishing.json").read_text())["models"]["vae_mnist"]
    assert state["log"][-1]["decision"] == "published" and "is not above the served version 2's" in \
        state["log"][-1]["reason"]
    np.testing.assert_allclose(state["evaluations"]["3"]["fid"], state["evaluations"]["1"]["fid"], rtol=1e-4)
    assert first.name == "1" and third.name == "3"


def test_publish_and_no_publish_skip_the_measurement(models, tmp_path, monkeypatch):
    good, bad = models
    root = tmp_path / "saved_models"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "no_classifier_here"))  # a measurement would train one: none must
    keras_gen.export_model(bad, root, name="vae", dataset="mnist", publish="never")
    assert served_config(root) == {}  # exported unpublished: TF Serving serves nothing of it
    with pytest.raises(ApiError, match="not found"):
        ModelRepository([root]).versions("vae_mnist")
    keras_gen.export_model(good, root, name="vae", dataset="mnist")  # nothing served yet: published unmeasured
    assert served_config(root) == {"vae_mnist": [2]}
    keras_gen.export_model(bad, root, name="vae", dataset="mnist", publish="always")
    assert served_config(root) == {"vae_mnist": [3]}
    assert not (tmp_path / "no_classifier_here").exists()


def test_a_model_copied_in_by_hand_keeps_tf_servings_default(models, tmp_path):
    good, _ = models
    root = tmp_path / "saved_models"
    keras_gen.export_model(good, root, name="vae", dataset="mnist")
    (root / "publishing.json").unlink()  # as if copied from a root keras_gen never published in
    (root / "vae_mnist" / "1").rename(root / "vae_mnist" / "7")
    keras_gen.export_model(good, root, name="other", dataset="mnist")
    assert served_config(root) == {"other_mnist": [1], "vae_mnist": "latest"}
    assert [v.version for v in ModelRepository([root]).versions("vae_mnist")] == [7]


def test_train_cli_no_publish_and_a_folders_own_export_name(tmp_path, mnist_train, capsys):
    from keras_gen.cli.train import main as train_main
    from keras_gen.config import resolve_config

    faces = tmp_path / "my faces"
    faces.mkdir()
    for i, image in enumerate(mnist_train[0][:40]):
        tf.io.write_file(str(faces / f"{i}.png"), tf.io.encode_png(image))
    root = tmp_path / "saved_models"
    capsys.readouterr()
    assert train_main(["--model", "vae_mlp_2d", "--dataset", "folder", "--data-dir", str(faces), "--epochs", "1",
                       "--steps-per-epoch", "2", "--batch-size", "16", "--run-dir", str(tmp_path / "run"),
                       "--export-dir", str(root),
                       "--no-publish"]) == 0
    out = capsys.readouterr().out
    assert (root / "vae_mlp_2d_folder-my_faces" / "1" / "saved_model.pb").is_file()
    assert "vae_mlp_2d_folder-my_faces version 1 exported, not published: --no-publish" in out, out
    assert served_config(root) == {}
    config = resolve_config("vae_mlp_2d", dataset="char74k", subset="hnd")
    assert dataset_label(config) == "char74k-hnd"
    assert dataset_label(resolve_config("vae_mlp_2d")) == "mnist"  # the usual data keeps the usual name
    bad = run_in_process(["-m", "keras_gen", "publish", root / "vae_mlp_2d_folder-my_faces", "--version", "5"])
    assert_one_line_error(bad, "has no version 5 (it has 1)", "--version")


def test_an_export_that_cannot_be_measured_here_is_not_served(models, tmp_path):
    """Fail closed: a second version that cannot be measured here (a dataset this machine lacks:
    CIFAR-10, which this 28x28x1 model could not be measured on anyway) stays unserved, and the
    decision says how to publish it by hand."""
    good, _ = models
    root = tmp_path / "saved_models"
    keras_gen.export_model(good, root, name="vae", dataset="cifar10")  # the first: published unmeasured
    keras_gen.export_model(good, root, name="vae", dataset="cifar10")
    assert served_config(root) == {"vae_cifar10": [1]}
    decision = json.loads((root / "publishing.json").read_text())["models"]["vae_cifar10"]["log"][-1]
    assert decision["decision"] == "not published" and "could not be measured against version 1" in \
        decision["reason"] and "keras-gen publish" in decision["reason"], decision
