"""What this machine's CPU can do, where it changes how skysynth should run."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


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
