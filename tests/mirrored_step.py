"""Run in a subprocess by test_distributed.py: one SGD step of a zoo model on one replica and on
two (MirroredStrategy over two logical CPUs) with the same global batch; prints JSON.

Two logical devices must be configured before TensorFlow initialises its devices, hence the
separate process.
"""

import json
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import models_zoo  # noqa: E402
from keras_gen.config import resolve_config  # noqa: E402
from keras_gen.datasets.idx import load_idx_arrays  # noqa: E402
from keras_gen.datasets.pipeline import build_train_set  # noqa: E402
from keras_gen.datasets.registry import REPO_DATA_DIR  # noqa: E402
from keras_gen.training.build import compile_model  # noqa: E402

GLOBAL_BATCH = 16


def one_step(name, strategy, images, labels, *, deterministic_posterior, **builder):
    # SGD: the update is lr * gradient, so a gradient N times too large shows (Adam's first step would hide it).
    config = resolve_config(name, optimizer={"name": "sgd", "learning_rate": 0.01}, strategy="mirrored")
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = models_zoo.build(name, **builder)
        if deterministic_posterior:
            # log-variance bias -30: sigma ~ 3e-7, so z = mu and the step is deterministic.
            layer = model.encoder.get_layer("z_log_var")
            layer.bias.assign(tf.fill(layer.bias.shape, -30.0))
        compile_model(model, config)
    ds = build_train_set(tf.data.Dataset.from_tensor_slices((images, labels)), image_shape=model.image_shape,
                         value_range=model.value_range, batch_size=GLOBAL_BATCH * model.data_batch_multiplier,
                         seed=0, shuffle=False)
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False).history
    after = [w.numpy() for w in model.trainable_weights]
    logs = {k: float(v[-1]) for k, v in history.items()}
    if hasattr(model, "d_optimizer"):
        logs["d_updates"] = int(model.d_optimizer.iterations.numpy())
    return before, after, logs, strategy.num_replicas_in_sync


x, y = load_idx_arrays(REPO_DATA_DIR / "mnist", "train")
x, y = x[:2 * GLOBAL_BATCH], y[:2 * GLOBAL_BATCH]  # the GAN below takes k = 2 batches a step
result = {}
# One strategy object for the whole process: two would reuse collective instance keys.
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
b1, a1, logs1, r1 = one_step("vae_mlp_2d", tf.distribute.get_strategy(), x, y, deterministic_posterior=True)
b2, a2, logs2, r2 = one_step("vae_mlp_2d", mirrored, x, y, deterministic_posterior=True)
result["vae"] = {
    "replicas": [r1, r2],
    "same_init": all(np.array_equal(p, q) for p, q in zip(b1, b2)),
    "max_weight_diff": max(float(np.abs(p - q).max()) for p, q in zip(a1, a2)),
    "max_update": max(float(np.abs(p - q).max()) for p, q in zip(a1, b1)),
    "logs": [logs1, logs2],
}
# k = 2 discriminator updates a step: under a strategy they are unrolled, not a tf.while_loop
# (an optimizer's merge_call cannot run inside a loop's body).
_, _, gan_logs, gan_replicas = one_step("mlp_gan", mirrored, x, y, deterministic_posterior=False, d_steps=2)
result["gan"] = {"replicas": gan_replicas, "logs": gan_logs}
print(json.dumps(result))
sys.stdout.flush()
