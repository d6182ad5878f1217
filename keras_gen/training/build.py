"""A run's model and its training setup: the zoo network in its family, optimizers, strategy."""

from __future__ import annotations

import math
import re

import keras
import tensorflow as tf

import models_zoo
from keras_gen.config import RunConfig
from keras_gen.families.base import MIXED_POLICIES, optimizer_from_spec
from keras_gen.training.distributed import multiworker_strategy
from keras_gen.utils.errors import UserError


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":  # TF_CONFIG checked and every peer answering first (keras_gen.training.distributed)
        return multiworker_strategy()
    return tf.distribute.get_strategy()


def build_model(config: RunConfig, *, num_classes: int | None):
    """The zoo model for ``config``, uncompiled, sized to the config's image shape."""
    entry = models_zoo.get(config.model)
    overrides = {**config.model_options, "image_shape": config.image_shape}
    if config.latent_dim is not None:
        overrides["latent_dim"] = config.latent_dim
    if entry.conditional:
        if num_classes is None:
            raise UserError(f"model {config.model} is conditional and needs class labels; dataset "
                            f"{config.dataset} has none: pick a labelled dataset "
                            "(for celeba pass --attribute, e.g. Male)")
        overrides["num_classes"] = num_classes
    if config.diffaugment and entry.family != "gan":
        raise UserError(f"--diffaugment augments what a GAN's discriminator sees; {config.model} is a "
                        f"{entry.family.upper()}: drop --diffaugment")
    if config.diffaugment and "color" in config.diffaugment and config.image_shape[-1] == 1:
        raise UserError(f"--diffaugment color changes colours, and {config.dataset}'s images have one channel: "
                        "use translation,cutout")
    if config.latent_sampler and entry.family != "vae":
        raise UserError(f"--latent-sampler fits a mixture to a VAE's codes; {config.model} is a "
                        f"{entry.family.upper()}: drop --latent-sampler")
    if config.ema is not None:
        if entry.family != "gan":
            raise UserError(f"--ema averages a GAN's generator; {config.model} is a {entry.family.upper()}: drop --ema")
        if config.strategy != "default":
            raise UserError(f"--ema runs with the default strategy only (its average is updated on one device), "
                            f"not --strategy {config.strategy}; drop one of them")
    if not (getattr(config, "mixed_precision", False) and keras.config.dtype_policy().name in MIXED_POLICIES):
        return with_levers(entry.build(**overrides), config)
    # Under a mixed policy (set by training/distributed.dtype_policy): layers that cannot compute in
    # float16 or bfloat16 (a custom layer with float32 constants, an op without a float16 kernel) fail here,
    # building or on a first forward pass, and are a UserError before anything trains.
    try:
        model = with_levers(entry.build(**overrides), config)
        model.check_forward_pass()
    except UserError:
        raise
    except Exception as err:  # TypeError, ValueError, InvalidArgumentError, NotFoundError from a layer
        reason = f"{type(err).__name__}: {_layer_error(err)[:240]}"
        raise UserError(f"model {config.model} cannot train with --mixed-precision: its layers fail in "
                        f"{keras.config.dtype_policy().compute_dtype} ({reason}); train it without --mixed-precision"
                        ) from None
    return model


def with_levers(model, config: RunConfig):
    """``model`` with the GAN levers ``config`` asks for: a moving average of its generator
    (``ema``), augmentation of what its discriminator sees (``diffaugment``)."""
    if config.ema is not None:
        model.enable_ema(config.ema)
    if config.diffaugment:
        model.enable_diffaugment(config.diffaugment)
    return model


def _layer_error(err: Exception) -> str:
    """One line from a Keras layer's error: ``Layer.call(): the underlying error``."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).split("Arguments received by")[0]  # no terminal colours
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [type(err).__name__]
    where = ""
    if lines[0].startswith("Exception encountered when calling") and len(lines) > 1:
        where = lines[0].removeprefix("Exception encountered when calling ").rstrip(".") + ": "
        lines = lines[1:]
    return where + (lines[-1] if "Error encountered:" in text else lines[0])


def steps_per_execution(config: RunConfig) -> int:
    """``config.steps_per_execution``, lowered to divide ``--steps-per-epoch`` when that is set: on
    a repeated dataset one execution runs all its steps, so an epoch would overshoot."""
    if config.steps_per_epoch is None:
        return config.steps_per_execution
    return math.gcd(config.steps_per_execution, config.steps_per_epoch)


def compile_model(model, config: RunConfig) -> None:
    optimizers = {slot: optimizer_from_spec(config.optimizer) for slot in model.optimizer_slots}
    model.compile(**optimizers, jit_compile=config.jit_compile, steps_per_execution=steps_per_execution(config))


def apply_speed_settings(model, config: RunConfig) -> None:
    """XLA, steps per execution and the learning rate of ``config`` on a model restored from a
    checkpoint (a resumed run may change them; the optimizers' other state is the checkpoint's)."""
    model.jit_compile = config.jit_compile
    model.steps_per_execution = steps_per_execution(config)
    for slot in model.optimizer_slots:
        optimizer = getattr(model, slot)
        if not callable(optimizer.learning_rate):  # a schedule keeps its own
            optimizer.learning_rate = config.learning_rate


def print_summary(config: RunConfig, *, out=print) -> None:
    """Each sub-network's Keras summary, and its parameter count beside the report's."""
    from keras_gen.datasets import get_dataset_spec

    model = build_model(config, num_classes=get_dataset_spec(config.dataset).num_classes)
    entry = models_zoo.get(config.model)
    out(f"{config.model}: {entry.family}, {entry.report} {entry.section}")
    default_size = (tuple(config.image_shape) == tuple(entry.image_shape)
                    and config.latent_dim in (None, model.latent_dim))
    for net in model.sub_networks:
        net.summary(print_fn=lambda line, *a, **k: out(line), expand_nested=True)
    for net in model.sub_networks:
        total = net.count_params()
        trainable = int(sum(math.prod(v.shape) for v in net.trainable_variables))
        line = f"{net.name}: {total:,} parameters ({trainable:,} trainable)"
        expected = entry.parameters.get(net.name)
        if expected and default_size:
            same = (total, trainable) == tuple(expected)
            line += f"; reference {expected[0]:,} ({expected[1]:,} trainable), {entry.parameters_source}: " \
                    f"{'matches' if same else 'DIFFERS'}"
        elif expected:
            line += f"; the reference counts are for {entry.image_shape} images"
        out(line)
