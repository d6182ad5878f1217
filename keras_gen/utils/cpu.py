"""What this machine's CPU is and which instruction sets it has (``/proc/cpuinfo``; Linux)."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# Instruction sets that computing bfloat16 natively needs (AVX512-BF16: Cooper Lake, Zen 4; AMX: Sapphire Rapids).
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_model_and_flags() -> tuple[str, set[str]]:
    """``(model name, instruction-set flags)``; the flags are empty where /proc/cpuinfo is missing."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return model, flags


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process (read at its import, so this
    imports TensorFlow)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


@functools.cache  # fixed for the process (oneDNN is read at TensorFlow's import); asked at every layer trace
def onednn_avx512() -> bool:
    """oneDNN on a CPU with AVX-512: where its kernels include the strided convolution gradients
    ``keras_gen.layers`` leaves to TensorFlow."""
    return onednn_enabled() and "avx512f" in cpu_model_and_flags()[1]


def native_bfloat16() -> bool:
    return bool(set(BFLOAT16_FLAGS) & cpu_model_and_flags()[1])
