"""Datasets: a registry of names, one module per official on-disk format, and the input pipeline.

Importing the package registers every format module in it (each calls
:func:`~keras_gen.datasets.registry.register_dataset` when imported): adding a dataset is adding a
module here, nothing else. Every dataset yields ``(uint8 image [H, W, C], int32 label)``;
:func:`~keras_gen.datasets.pipeline.build_train_set` turns that into batches for a model.
"""

from keras_gen.utils.native import import_tensorflow as _import_tensorflow

_import_tensorflow()

import importlib as _importlib  # noqa: E402
import pkgutil as _pkgutil  # noqa: E402

from keras_gen.datasets.pipeline import (  # noqa: E402  (after _import_tensorflow(): TensorFlow's settings first)
    VALUE_RANGES,
    build_train_set,
    count_examples,
    prepare_image,
    scale_images,
    to_unit_range,
)
from keras_gen.datasets.registry import (  # noqa: E402
    DatasetSpec,
    Source,
    candidate_dirs,
    dataset_names,
    describe_datasets,
    find_source,
    get_dataset_spec,
    register_dataset,
)

_INFRASTRUCTURE = {"pipeline", "registry", "files"}
for _module in _pkgutil.iter_modules(__path__):
    if _module.name not in _INFRASTRUCTURE:
        _importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["VALUE_RANGES", "DatasetSpec", "Source", "build_train_set", "candidate_dirs", "count_examples",
           "dataset_names", "describe_datasets", "find_source", "get_dataset_spec", "prepare_image",
           "register_dataset", "scale_images", "to_unit_range"]
