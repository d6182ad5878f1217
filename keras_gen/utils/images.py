"""Image grids and PNG files (numpy and matplotlib; no TensorFlow)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from keras_gen.utils.fileio import atomic_path


def image_grid(images: np.ndarray, *, rows: int | None = None) -> np.ndarray:
    """``[N, H, W, C]`` in [0, 1] -> one ``[rows*H, cols*W, C]`` picture with 1-pixel gutters."""
    n, h, w, c = images.shape
    rows = rows or int(math.ceil(math.sqrt(n)))
    cols = int(math.ceil(n / rows))
    grid = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1, c), dtype=np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, cols)
        grid[r * (h + 1): r * (h + 1) + h, col * (w + 1): col * (w + 1) + w] = image
    return grid


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write a [H, W, 1|3] image in [0, 1] as PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image

    image = np.clip(image, 0.0, 1.0)
    with atomic_path(path) as tmp:
        if image.shape[-1] == 1:
            matplotlib.image.imsave(tmp, image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, format="png")
        else:
            matplotlib.image.imsave(tmp, image, format="png")
