"""Where evaluation caches what it computes once (domain classifiers, converted FID weights, features)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "KERAS_GEN_CACHE"


def cache_root() -> Path:
    """``$KERAS_GEN_CACHE`` or ``~/.cache/keras_gen``."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/keras_gen").expanduser()
