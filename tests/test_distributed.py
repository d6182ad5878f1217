"""tf.distribute: one step on two replicas equals one step on one replica with the same global batch."""

import json

import numpy as np
import pytest

from conftest import REPO, run


@pytest.fixture(scope="module")
def mirrored():
    proc = run([REPO / "tests" / "mirrored_step.py"], check=True, timeout=300)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mirrored_step_matches_single_replica(mirrored):
    vae = mirrored["vae"]
    assert vae["replicas"] == [1, 2]
    assert vae["same_init"]
    # Loss scaled for the global batch: the two-replica update equals the one-replica update. With a
    # plain reduce_mean per replica the update would be twice as large (difference ~ max_update).
    assert vae["max_update"] > 1e-3
    assert vae["max_weight_diff"] < 1e-3 * vae["max_update"]


def test_mirrored_logs_are_means_over_the_global_batch(mirrored):
    one, two = mirrored["vae"]["logs"]
    for key in ("loss", "reconstruction", "kl"):
        np.testing.assert_allclose(two[key], one[key], rtol=1e-4)


def test_gan_trains_under_mirrored(mirrored):
    gan = mirrored["gan"]
    assert gan["replicas"] == 2
    assert all(np.isfinite(v) for v in gan["logs"].values())
    # Non-saturating G loss and the D loss of a near-random start are both around log 2 per term.
    assert 0.5 < gan["logs"]["d_loss"] < 3.0 and 0.2 < gan["logs"]["g_loss"] < 3.0


def test_train_py_multiworker_with_one_local_worker(tmp_path, tiny_mnist_dir):
    """``--strategy multiworker`` end to end: one worker on loopback, as TF_CONFIG describes a cluster."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tf_config = {"cluster": {"worker": [f"127.0.0.1:{port}"]}, "task": {"type": "worker", "index": 0}}
    proc = run([REPO / "train.py", "--model", "vae_mlp_2d", "--strategy", "multiworker", "--data-dir", tiny_mnist_dir,
                "--epochs", "1", "--limit", "256", "--batch-size", "32", "--run-dir", tmp_path / "run",
                "--export-dir", tmp_path / "exports"], env={"TF_CONFIG": json.dumps(tf_config)}, check=True)
    assert '"strategy": "multiworker"' in proc.stdout
    assert json.loads((tmp_path / "run" / "checkpoints" / "latest.json").read_text())["steps"] == 256 // 32
    assert (tmp_path / "exports" / "vae_mlp_2d_mnist" / "1" / "saved_model.pb").is_file()


def test_multiworker_without_tf_config_is_a_clear_error(tmp_path):
    proc = run([REPO / "train.py", "--model", "vae_mlp_2d", "--strategy", "multiworker"], cwd=tmp_path,
               env={"TF_CONFIG": ""})
    assert proc.returncode == 2 and "TF_CONFIG" in proc.stderr and "Traceback" not in proc.stderr
