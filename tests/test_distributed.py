"""tf.distribute: one step on two replicas equals one step on one replica with the same global batch."""

import json

import numpy as np
import pytest

from conftest import REPO, run, run_in_process


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
    assert gan["replicas"] == 2 and gan["logs"].pop("d_updates") == 2  # k = 2 discriminator updates
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
    assert json.loads((tmp_path / "run" / "config.json").read_text())["strategy"] == "multiworker"
    assert "weights fingerprint" not in proc.stdout  # one worker: nothing to compare
    assert json.loads((tmp_path / "run" / "checkpoints" / "latest.json").read_text())["steps"] == 256 // 32
    assert (tmp_path / "exports" / "vae_mlp_2d_mnist" / "1" / "saved_model.pb").is_file()


def test_multiworker_without_tf_config_is_a_clear_error(tmp_path):
    proc = run_in_process([REPO / "train.py", "--model", "vae_mlp_2d", "--strategy", "multiworker"], cwd=tmp_path,
                          env={"TF_CONFIG": ""})  # refused before any strategy exists: safe in this process
    assert proc.returncode == 2 and "TF_CONFIG" in proc.stderr and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- mixed precision
MIXED_CHECK = r'''
import json, sys
import numpy as np
import keras
import tensorflow as tf
from keras_gen.export.saved_model import portability_problems, signature_inputs
from keras_gen.rundir.checkpoints import latest_checkpoint, load_checkpoint
from keras_gen.training.distributed import mixed_policy

out = {"policy": mixed_policy()[0]}  # bfloat16 on CPUs that compute it, float16 elsewhere
for run_dir, export_path in zip(sys.argv[1::2], sys.argv[2::2]):
    path = latest_checkpoint(run_dir + "/checkpoints")["path"]
    seeds = tf.constant(np.arange(16), tf.int32)
    keras.config.set_dtype_policy(out["policy"])
    mixed = load_checkpoint(path)  # the run's own precision, as --resume loads it
    mixed_images = mixed.sample(seeds).numpy()
    policies = sorted({layer.dtype_policy.name for net in mixed.sub_networks for layer in net._flatten_layers()
                       if layer.weights})
    optimizer = type(getattr(mixed, mixed.optimizer_slots[0])).__name__
    keras.config.set_dtype_policy("float32")
    plain = load_checkpoint(path)  # what exports and evaluation load
    plain_images = plain.sample(seeds).numpy()
    export_images = tf.saved_model.load(export_path).signatures["sample"](seed=seeds)["images"].numpy()
    dtypes = sorted({dtype.name for sig in signature_inputs(export_path).values() for _, dtype in sig.values()})
    out[run_dir] = {"policies": policies, "optimizer": optimizer, "sample_dtype": str(mixed_images.dtype),
                    "mixed_vs_float32": float(np.abs(mixed_images - plain_images).max()),
                    "export_vs_float32": float(np.abs(export_images - plain_images).max()),
                    "spread": float(plain_images.std()), "portability": portability_problems(export_path),
                    "input_dtypes": dtypes}
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def mixed_precision_runs(tmp_path_factory, tiny_mnist_dir):
    """vae_mlp_2d and mlp_gan_small trained one epoch with --mixed-precision (bfloat16 on a CPU
    that computes it, else float16)."""
    import os
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("mixed")
    procs = {}
    for name in ("vae_mlp_2d", "mlp_gan_small"):
        procs[name] = subprocess.Popen(
            [sys.executable, REPO / "train.py", "--model", name, "--mixed-precision", "--data-dir", tiny_mnist_dir,
             "--epochs", "1", "--limit", "256", "--batch-size", "32", "--run-dir", root / name,
             "--export-dir", root / "exports"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-4000:]
        assert "mixed precision" in stdout
        from keras_gen.utils.cpu import native_bfloat16

        if not native_bfloat16():  # this CPU computes neither 16-bit type: the run says it will be slower
            assert "note: --mixed-precision: this CPU" in stdout and "slower than float32" in stdout
        elif not tf_gpu():  # the log names the 16-bit type, and what it was measured to pay for
            assert "mixed precision: mixed_bfloat16 (this CPU computes bfloat16 natively" in stdout, stdout
    args = [a for name in procs for a in (root / name, root / "exports" / f"{name}_mnist" / "1")]
    checks = json.loads(run(["-c", MIXED_CHECK, *args], check=True).stdout.strip().splitlines()[-1])
    return root, {name: {**checks[str(root / name)], "policy": checks["policy"]} for name in procs}


def tf_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def test_mixed_precision_trains_with_loss_scaling_and_finite_losses(mixed_precision_runs):
    """Every layer computes in the 16-bit type of the machine; float16 gradients are loss-scaled
    (they underflow otherwise), bfloat16's, with float32's range, are not."""
    import csv

    from keras_gen.utils.cpu import native_bfloat16

    root, checks = mixed_precision_runs
    for name, check in checks.items():
        policy = "mixed_bfloat16" if native_bfloat16() and not tf_gpu() else "mixed_float16"
        assert check["policy"] == policy and check["policies"] == [policy], check  # every layer in 16 bits
        assert check["optimizer"] == ("LossScaleOptimizer" if policy == "mixed_float16" else "Adam"), check
        with open(root / name / "history.csv") as f:
            rows = list(csv.DictReader(f))
        losses = [float(v) for row in rows for k, v in row.items() if "loss" in k and v]
        assert losses and all(np.isfinite(losses)), rows
        config = json.loads((root / name / "config.json").read_text())
        assert config["mixed_precision"] is True


def test_mixed_precision_exports_are_float32_and_match(mixed_precision_runs):
    _, checks = mixed_precision_runs
    for name, check in checks.items():
        assert check["portability"] == [], check  # no float16 anywhere in the serving graphs
        assert check["input_dtypes"] == ["float32", "int32"] and check["sample_dtype"] == "float32"
        assert check["export_vs_float32"] < 1e-5, check
        # 16-bit compute (the difference is not 0) differs from float32 by rounding only: float16 keeps
        # 11 bits of mantissa, bfloat16 8.
        bound = 2e-2 if check["policy"] == "mixed_float16" else 1e-1
        assert 0 < check["mixed_vs_float32"] < bound and check["spread"] > 1e-3, check


FLOAT32_ONLY_MODEL = r'''
import sys
from keras_gen.utils.native import import_tensorflow
import_tensorflow()  # as the command lines do: TensorFlow's native start-up lines silenced
import keras
import tensorflow as tf
from models_zoo import register
from models_zoo.mlp import mlp
from keras_gen.families import VAE


class Float32Only(keras.layers.Layer):
    """Adds a float32 constant: cannot take float16 or bfloat16 inputs (tf.matmul would not do: it
    mixes bfloat16 with float32)."""

    def call(self, x):
        return tf.add(x, tf.zeros([x.shape[-1]], dtype=tf.float32))


@register("float32_only_vae", family="vae", report="test", section="-", dataset="mnist", image_shape=(28, 28, 1),
          epochs=1, batch_size=32, optimizer={"name": "adam", "learning_rate": 1e-3})
def build(*, latent_dim=2, image_shape=(28, 28, 1)):
    inputs = keras.Input(image_shape, name="images")
    encoder = keras.Model(inputs, Float32Only()(keras.layers.Dense(2 * latent_dim)(keras.layers.Flatten()(inputs))),
                          name="encoder")
    decoder = mlp((16,), input_shape=(latent_dim,), activation="relu", output_units=784, output_shape=image_shape,
                  name="decoder", input_name="z")
    return VAE(encoder, decoder, latent_dim=latent_dim, image_shape=image_shape, name="float32_only_vae")


from keras_gen.cli.train import main

sys.exit(main(sys.argv[1:]))
'''


def test_mixed_precision_with_a_model_that_cannot_take_it_is_one_line(tmp_path, tiny_mnist_dir):
    from conftest import assert_one_line_error

    base = ["-c", FLOAT32_ONLY_MODEL, "--model", "float32_only_vae", "--data-dir", tiny_mnist_dir, "--limit", "64",
            "--epochs", "1"]
    proc = run([*base, "--mixed-precision", "--run-dir", tmp_path / "mixed"])
    assert_one_line_error(proc, "float32_only_vae cannot train with --mixed-precision", "without --mixed-precision")
    assert not (tmp_path / "mixed" / "checkpoints").exists()
    run([*base, "--no-export", "--run-dir", tmp_path / "plain"], check=True)  # float32: the same model trains


def test_the_mixed_policy_follows_the_hardware(monkeypatch):
    """float16 on GPUs, bfloat16 on CPUs with AVX512-BF16 or AMX, float16 with a reason elsewhere."""
    import tensorflow as tf

    import keras_gen.utils.cpu as cpu
    from keras_gen.training.distributed import mixed_policy

    if tf.config.list_physical_devices("GPU"):
        assert mixed_policy() == ("mixed_float16", None)
        return
    monkeypatch.setattr(cpu, "cpu_model_and_flags", lambda: ("Some Xeon", {"avx512f", "amx_bf16"}))
    assert mixed_policy() == ("mixed_bfloat16", None)
    monkeypatch.setattr(cpu, "cpu_model_and_flags", lambda: ("AMD EPYC 7B13", {"avx2", "fma"}))
    policy, why = mixed_policy()
    assert policy == "mixed_float16" and "this CPU (AMD EPYC 7B13) has no native bfloat16" in why
