"""How many CPU threads a job should use: one per core that is free now, not one per core.

PyTorch's default (one intra-op thread per core) oversubscribes a shared machine: beside one
busy process on two cores, two threads run several times slower than one (RESULTS.md,
outpainting speed), because each parallel region waits for the thread that lost its core.
"""

from __future__ import annotations

import os
import time

import torch

THREAD_CHOICES = "auto (one per free core), or a number of threads"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. a container's CPU set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def busy_elsewhere(samples: int = 5, interval_s: float = 0.004) -> int | None:
    """Runnable threads of other processes right now (None where /proc/loadavg is missing).

    /proc/loadavg's fourth field counts the runnable tasks at this instant, the reader
    included; the least of a few readings ignores threads that only just woke up."""
    counts = []
    for _ in range(samples):
        try:
            with open("/proc/loadavg") as file:
                running = int(file.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        counts.append(running - 1)
        time.sleep(interval_s)
    return max(0, min(counts))


def parse_threads(setting: str | int) -> int | None:
    """`setting`: "auto" -> None, or a positive whole number of threads. Raises ValueError."""
    if isinstance(setting, str) and setting.strip().lower() == "auto":
        return None
    text = str(setting).strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"threads must be {THREAD_CHOICES}, got {setting!r}")
    return int(text)


def choose_threads(setting: str | int = "auto") -> int:
    """The threads to use: a number as given, or for "auto" the usable cores less those busy
    elsewhere now (at least 1). Raises ValueError on a bad setting."""
    threads = parse_threads(setting)
    if threads is not None:
        return threads
    cores, busy = usable_cores(), busy_elsewhere()
    return cores if busy is None else max(1, cores - busy)


def use_threads(setting: str | int = "auto") -> int:
    """Set torch's intra-op threads by `choose_threads(setting)`; returns the count."""
    threads = choose_threads(setting)
    torch.set_num_threads(threads)
    return threads
