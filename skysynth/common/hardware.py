"""What this machine's CPU can do, where it changes how skysynth should run."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX). Elsewhere torch emulates
    bf16, and autocast runs far slower than fp32 (~20x for MaskGIT training on an AVX2 CPU)."""
    if cpuinfo is None:
        return _this_cpu_has_native_bf16()
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


@lru_cache(maxsize=1)
def _this_cpu_has_native_bf16() -> bool:
    try:
        return cpu_has_native_bf16(Path("/proc/cpuinfo").read_text())
    except OSError:
        return True  # not Linux: leave the choice to the user


def use_bf16(choice: bool | None, device: torch.device | str) -> bool:
    """Whether to run under bf16 autocast on `device`: `choice`, or where None, where the device
    computes bf16 natively (a CPU with AVX512-BF16/AMX, a CUDA GPU that supports it)."""
    if choice is not None:
        return bool(choice)
    kind = torch.device(device).type
    if kind == "cpu":
        return cpu_has_native_bf16()
    return kind == "cuda" and torch.cuda.is_bf16_supported()
