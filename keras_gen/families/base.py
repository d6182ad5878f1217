"""What every training family shares: a latent prior, seeded sampling, serialization.

A family is a Keras model that owns losses, optimizers and sampling; the networks themselves come
from :mod:`models_zoo`, and the families wrap them. Each overrides
``train_step`` with ``tf.GradientTape``, passes ``training=True`` explicitly to every sub-network
call (BatchNorm and Dropout otherwise run in inference mode), and exposes its loss trackers
through ``metrics`` so ``fit`` logs and resets them each epoch.

Losses are per-example values averaged over the *global* batch with
``tf.nn.compute_average_loss``, so gradients have the right size under ``tf.distribute``
(a plain ``reduce_mean`` would make them N times too large with N replicas).

Distributed and mixed-precision training, in one place for every family:

* Random draws in a train step (latents, labels, the VAE's noise, WGAN-GP's interpolation
  weights) come from a :class:`ReplicaSeedGenerator`: its state is mirrored (the same on every
  replica and worker), so each draw folds in the replica's id -- every replica draws its own
  latents, as a single device drawing the whole global batch would.
* Keras' TensorFlow trainer fails under ``MultiWorkerMirroredStrategy`` across processes
  (:data:`KERAS_MULTIWORKER_FIXED_IN`); :class:`GenerativeModel` overrides the two trainer methods
  involved while the installed Keras needs it.
* Mixed precision (Keras' ``mixed_float16`` policy): sub-networks compute in float16, the
  families cast their outputs (logits, decoder outputs, encoder moments) to float32, so losses and
  TFP distributions are float32; every custom train step scales its loss with the optimizer's
  ``scale_loss`` (a ``LossScaleOptimizer`` under ``mixed_float16``, the identity otherwise).
  Checkpoints record no mixed policy (:meth:`GenerativeModel.get_config`): a checkpoint loads in
  whatever policy is active, float32 unless a run sets another, so exports are float32.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_gen.datasets.pipeline import to_unit_range
from keras_gen.families.multiworker import MultiWorkerTrainerFixes
from keras_gen.utils import seeded
from keras_gen.utils.probability import tfd

PACKAGE = "keras_gen"


def serialize(obj):
    return keras.saving.serialize_keras_object(obj)


def deserialize(obj):
    """A Keras object from its serialized config (a dict); anything else is returned as it is."""
    return keras.saving.deserialize_keras_object(obj) if isinstance(obj, dict) else obj


def optimizer_from_spec(spec: dict) -> keras.optimizers.Optimizer:
    """A Keras optimizer from a zoo spec: ``{"name": "adam", "learning_rate": 2e-4, "beta_1": 0.5}``."""
    spec = dict(spec)
    name = spec.pop("name")
    return keras.optimizers.get({"class_name": name, "config": spec})


def average_over_global_batch(per_example):
    """Mean over the global batch: ``sum / (per-replica batch * replicas)``."""
    return tf.nn.compute_average_loss(per_example)


def as_float32(*tensors):
    """``tensors`` cast to float32 (None stays None): what a sub-network computing in float16 under
    the ``mixed_float16`` policy returns, made fit for losses and distributions. One tensor in,
    one out; several in, a tuple out. A no-op on float32 tensors."""
    cast = tuple(None if t is None else tf.cast(t, tf.float32) for t in tensors)
    return cast[0] if len(cast) == 1 else cast


# ------------------------------------------------------------------------- mixed precision
MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


def without_mixed_policies(config):
    """A serialized config with every mixed dtype policy replaced by ``None`` (= the global policy
    at load time); other policies (an explicit float32 output layer) are kept."""
    if isinstance(config, dict):
        if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and \
                (config.get("config") or {}).get("name") in MIXED_POLICIES:
            return None
        return {k: without_mixed_policies(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return type(config)(without_mixed_policies(v) for v in config)
    return config


def loss_scaled(optimizer, dtype_policy):
    """``optimizer`` wrapped in Keras' dynamic ``LossScaleOptimizer`` under ``mixed_float16`` (float16
    gradients underflow without it), as Keras' own ``compile`` does; unchanged otherwise."""
    if getattr(dtype_policy, "name", dtype_policy) == "mixed_float16" and \
            not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer, name=f"loss_scale_{optimizer.name}")
    return optimizer


# ------------------------------------------------------------------------- tf.distribute
class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A ``SeedGenerator`` whose draws differ between replicas.

    Created in a strategy's scope, a ``SeedGenerator``'s state is a mirrored variable: every
    replica (and every worker) holds, and advances, the same state, so each would draw the same
    latents. Inside a replica context with more than one replica in sync, this one folds the
    replica's id (global across workers) into each seed; with one replica its seeds are the plain
    ``SeedGenerator``'s, so single-device runs draw exactly what they drew before.
    """

    def next(self, ordered=True):
        seed = super().next(ordered=ordered)
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return seed
        replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
        # The stateless generators take the first component as their key: a different key per replica.
        return seed + tf.stack([replica * tf.constant(1_000_003, seed.dtype), tf.zeros([], seed.dtype)])


class GenerativeModel(MultiWorkerTrainerFixes, keras.Model):
    """What every family shares: a latent prior, seeded sampling, and image metadata.

    ``generate(z, labels)`` returns images in the model's ``value_range``; ``sample(seeds)`` draws
    one latent per integer seed from the model's own prior (the same image for the same seed,
    whatever else is in the batch) and returns images in [0, 1].
    """

    family = "generative"
    # The keyword arguments of ``compile`` that take optimizers, the first counting steps.
    optimizer_slots: tuple[str, ...] = ("optimizer",)
    # The constructor's arguments that take the sub-networks, in the order of ``sub_networks``:
    # ``get_config`` serializes them under these names and ``from_config`` passes them back.
    network_args: tuple[str, ...] = ()

    def __init__(self, *, latent_dim: int, image_shape, value_range: str, num_classes=None,
                 data_batch_multiplier: int = 1, **kwargs):
        super().__init__(**kwargs)
        if latent_dim <= 0:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}")
        self.latent_dim = int(latent_dim)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.value_range = value_range
        self.num_classes = None if num_classes is None else int(num_classes)
        # How many model batches one step consumes (k fresh real batches for k critic steps).
        self.data_batch_multiplier = int(data_batch_multiplier)
        self.seed_generator = ReplicaSeedGenerator(1337, name="seed_generator")

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    @property
    def sub_networks(self) -> list:
        raise NotImplementedError

    def non_finite_weights(self) -> list[str]:
        """Paths of the floating-point weights holding NaN or infinity (empty for a healthy model)."""
        return [v.path for v in self.weights
                if "float" in str(v.dtype) and not bool(tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v))))]

    @property
    def steps_trained(self) -> int:
        optimizer = getattr(self, self.optimizer_slots[0], None)
        return 0 if optimizer is None else int(optimizer.iterations.numpy())  # MirroredVariable-safe

    @property
    def mixed_precision(self) -> bool:
        """Whether the model was built under a mixed dtype policy (sub-networks compute in float16)."""
        return self.dtype_policy.name in MIXED_POLICIES

    def get_config(self):
        # No mixed policy is recorded: a checkpoint loads in the policy active when it is loaded
        # (the run's own on resume, float32 for exports and evaluation).
        return without_mixed_policies({
            **super().get_config(),
            **{arg: serialize(net) for arg, net in zip(self.network_args, self.sub_networks)},
            "latent_dim": self.latent_dim,
            "image_shape": list(self.image_shape),
            "value_range": self.value_range,
            "num_classes": self.num_classes,
        })

    def check_forward_pass(self, batch_size: int = 2):
        """Run every sub-network once on zeros (eagerly): layers that cannot compute in the
        model's dtype policy fail here, at once, rather than inside the compiled train step."""
        for net in self.sub_networks:
            inputs = [tf.zeros([batch_size, *t.shape[1:]], t.dtype) for t in net.inputs]
            net(inputs if len(inputs) > 1 else inputs[0], training=False)

    @classmethod
    def from_config(cls, config):
        # Sub-networks arrive serialized; each family's __init__ deserializes them (see ``deserialize``).
        return cls(**config)

    # -- compile / saving: one optimizer per slot ------------------------------------------------
    # The report's optimizer (models_zoo's spec, set by ZooEntry.build): what compile() uses for a
    # slot it is not given. None for a model built by hand, whose compile needs every slot.
    default_optimizer: dict | None = None

    def _optimizers(self, given: dict) -> dict:
        """``given`` ({slot: optimizer or None}) with each missing one made from :attr:`default_optimizer`."""
        missing = [slot for slot, opt in given.items() if opt is None]
        if missing and self.default_optimizer is None:
            needed = ", ".join(f"{slot}=" for slot in missing)
            raise ValueError(f"{type(self).__name__}.compile() needs {needed}: this model was not built from the zoo "
                             "(keras_gen.build), so it has no report's optimizer to default to")
        return {slot: optimizer_from_spec(self.default_optimizer) if opt is None else opt
                for slot, opt in given.items()}

    def get_compile_config(self):
        return {slot: serialize(getattr(self, slot)) for slot in self.optimizer_slots}

    def compile_from_config(self, config):
        # compile builds the optimizers' slots, so the saved state (moments, step count) loads into them.
        self.compile(**{slot: deserialize(config[slot]) for slot in self.optimizer_slots})

    # -- prior -----------------------------------------------------------------------------
    def prior(self) -> tfd.Distribution:
        """p(z): a standard normal unless a family overrides it."""
        return tfd.MultivariateNormalDiag(loc=tf.zeros([self.latent_dim]))

    def latent_from_seeds(self, seeds, truncation=None):
        """One latent per int seed from :meth:`prior`, ``[B] -> [B, latent]``: the same latent for a
        seed whatever else is in the batch, drawn for the whole batch at once (:mod:`.seeded`).
        ``truncation`` psi (a scalar or ``[B]``) scales the standard-normal noise towards the
        prior's mean before it is mapped: the truncation trick (Brock et al. 2019, "Large Scale GAN
        Training", §3.1; Karras et al. 2019, "StyleGAN", §B's psi), fewer odd images for less variety."""
        eps = seeded.normal(seeds, self.latent_dim)  # [B, latent]
        if truncation is not None:
            psi = tf.convert_to_tensor(truncation, tf.float32)
            eps = eps * (psi[:, None] if psi.shape.rank == 1 else psi)
        return self.latent_from_noise(eps, seeds)

    def latent_from_noise(self, eps, seeds):
        """Latents from standard-normal noise ``eps`` [B, latent] (a prior other than N(0, I) maps
        it, drawing any further randomness from ``seeds`` on another stream)."""
        return eps

    def random_latent(self, batch_size):
        """Latents for training: ``[batch, latent]`` from the prior, advancing the seed generator."""
        seed = keras.random.randint([2], 0, 2**31 - 1, seed=self.seed_generator, dtype="int32")
        return self.prior().sample(batch_size, seed=seed)

    def random_labels(self, batch_size):
        return keras.random.randint([batch_size], 0, self.num_classes, seed=self.seed_generator, dtype="int32")

    # -- generation --------------------------------------------------------------------------
    def generate(self, z, labels=None, training=False):
        """Images in the model's value range from latents ``z`` ([B, latent])."""
        raise NotImplementedError

    def generate_unit(self, z, labels=None):
        return to_unit_range(self.generate(z, labels), self.value_range)

    def sample(self, seeds, labels=None, truncation=None):
        """``[B]`` int seeds -> ``[B, H, W, C]`` images in [0, 1], deterministic per seed;
        ``truncation`` psi in [0, 1] draws closer to the prior's mean (see :meth:`latent_from_seeds`)."""
        return self.generate_unit(self.latent_from_seeds(seeds, truncation), labels)

    def interpolate(self, from_seed: int, to_seed: int, steps: int = 10, label: int | None = None,
                    spherical: bool = False):
        """``steps`` images ``[steps, H, W, C]`` in [0, 1] on the path between two seeds' latents
        (linear; ``spherical``: the great circle), as ``keras-gen interpolate`` and the exports draw
        it; ``label``: the class of a conditional model's images (default 0)."""
        from keras_gen.utils.latent_paths import latent_path

        z0, z1 = self.latent_from_seeds(tf.constant([from_seed, to_seed], tf.int32)).numpy()
        path = latent_path(z0, z1, steps, spherical=spherical)  # [steps, latent]
        labels = tf.fill([int(steps)], int(label or 0)) if self.conditional else None
        return self.generate_unit(tf.constant(path, tf.float32), labels)

    def call(self, z, training=False):
        return self.generate(z, training=training)

    # -- helpers for train steps --------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, **kwargs):
        """``keras.Model.fit``, also on a NumPy array of images: ``x`` ``[N, H, W, C]`` uint8 or floats
        in [0, 1] (scaled to the model's range, shuffled, in batches of ``batch_size``, default 64:
        each network's batch, as ``train.py --batch-size``; a GAN with ``d_steps`` k takes k of them a
        step), ``y`` the class ids of a conditional model. A ``tf.data.Dataset`` must yield images already
        in :attr:`value_range` (``keras_gen.datasets.build_train_set`` makes one)."""
        if isinstance(x, np.ndarray):
            from keras_gen.datasets.pipeline import images_dataset

            x = images_dataset(x, y, image_shape=self.image_shape, value_range=self.value_range,
                               batch_size=(batch_size or 64) * self.data_batch_multiplier,
                               seed=kwargs.pop("seed", 0), num_classes=self.num_classes)
            y = batch_size = None
            kwargs["shuffle"] = False  # the dataset reshuffles every epoch itself
        elif isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # Keras never shuffles a dataset, and warns when asked to
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, **kwargs)

    def split_batch(self, data):
        """``(images, labels)`` of a batch, labels None unless the model is conditional."""
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        return images, (labels if self.conditional else None)

    def _net_inputs(self, x, labels):
        return x if not self.conditional else [x, labels]
