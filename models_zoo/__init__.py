"""The models zoo: every architecture in the study reports, registered by name.

Each builder module opens with the report (and paper) it mirrors, builds plain named Keras
networks, and wraps them in a :mod:`keras_gen.families` family (``GAN``, ``VAE``, ...), returned
uncompiled. ``names()`` lists the registry; ``build(name, **overrides)`` builds one; ``get(name)``
gives its :class:`ZooEntry` (family, report, default dataset and training setup).

Register a new model with the decorator in a new module of this package; every module here is
imported when the registry is first read, so nothing else needs editing::

    @register("my_gan", family="gan", report="...", section="...", dataset="mnist",
              image_shape=(28, 28, 1), epochs=10, batch_size=64, optimizer={...})
    def build_my_gan(*, latent_dim=100, image_shape=(28, 28, 1), num_classes=None): ...
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from typing import Callable

from keras_gen.utils.errors import UserError
from keras_gen.utils.native import import_tensorflow

import_tensorflow()  # before any builder module imports Keras: TensorFlow's start-up chatter stays quiet


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """A registered architecture and the training setup of the report it comes from."""

    name: str
    family: str
    report: str
    section: str
    builder: Callable
    dataset: str
    image_shape: tuple[int, int, int]
    epochs: int
    batch_size: int
    optimizer: dict  # {"name": "adam", "learning_rate": ..., "beta_1": ...}; both networks for GANs
    conditional: bool = False
    jit_compile: bool = False  # chosen per model by measurement (benchmarks/train_speed.py)
    steps_per_execution: int = 1  # train steps per tf.function call; more for small models (measured)
    summary: str = ""
    # {sub-network: (count_params(), trainable)}: the report's figures where it prints them (else
    # computed from the layers, as parameters_source says); tests/test_zoo.py holds every build to them.
    parameters: dict = dataclasses.field(default_factory=dict)
    parameters_source: str = ""
    # Run-config defaults that depend on the dataset: {dataset: {key: value}}, "*" for any other
    # dataset, e.g. {"mnist": {"latent_dim": 2}, "*": {"latent_dim": 300}} (Dietrich §II.D).
    dataset_defaults: dict = dataclasses.field(default_factory=dict)

    def defaults_for(self, dataset: str) -> dict:
        """The run-config defaults this model takes on ``dataset`` (before the user's overrides)."""
        return dict(self.dataset_defaults.get(dataset, self.dataset_defaults.get("*", {})))

    def options(self) -> dict:
        """The builder's own keyword arguments (``--option KEY=VALUE``) with their defaults."""
        fixed = {"latent_dim", "image_shape", "num_classes"}
        return {name: p.default for name, p in inspect.signature(self.builder).parameters.items()
                if name not in fixed and p.default is not inspect.Parameter.empty}

    def build(self, **overrides):
        accepted = inspect.signature(self.builder).parameters
        unknown = sorted(set(overrides) - set(accepted))
        if unknown:
            raise UserError(
                f"model {self.name} does not take {', '.join(unknown)}; it takes {', '.join(accepted) or 'nothing'}"
            )
        try:
            model = self.builder(**overrides)
        except ValueError as err:  # builders reject sizes the architecture cannot produce
            raise UserError(f"model {self.name}: {err}") from None
        # compile() with no optimizers uses the report's. Set past Keras' attribute tracking, which
        # would wrap the dict (a model's tracked dicts are its layers and variables).
        object.__setattr__(model, "default_optimizer", dict(self.optimizer))
        return model


_REGISTRY: dict[str, ZooEntry] = {}
_HELPERS = frozenset({"checks"})  # modules of shared pieces that register nothing


def register(name: str, **info):
    """Decorator: register ``builder`` under ``name`` with its report and training defaults."""

    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        doc = inspect.getdoc(builder) or ""
        _REGISTRY[name] = ZooEntry(name=name, builder=builder, summary=doc.splitlines()[0] if doc else "",
                                   image_shape=tuple(info.pop("image_shape")), **info)
        return builder

    return decorator


def _load_all():
    """Import every builder module of this package (each registers its models on import)."""
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _HELPERS:
            importlib.import_module(f"{__name__}.{module.name}")


def names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def get(name: str) -> ZooEntry:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}; known models: {', '.join(names())} (see --list-models)") from None


def build(name: str, **overrides):
    """Build registered model ``name`` (uncompiled); overrides are the builder's keyword arguments."""
    return get(name).build(**overrides)
