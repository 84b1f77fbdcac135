"""Thread choice for a shared machine: one thread per core that is free now."""

from __future__ import annotations

import subprocess
import sys

import pytest

from skysynth.common.threads import busy_elsewhere, choose_threads, parse_threads, usable_cores


def test_thread_settings_are_auto_or_a_positive_number():
    assert parse_threads("auto") is None and parse_threads(" AUTO ") is None
    assert parse_threads(3) == 3 and parse_threads("2") == 2 and choose_threads("2") == 2
    for bad in ("0", 0, -1, "two", "1.5", ""):
        with pytest.raises(ValueError, match="threads must be auto"):
            parse_threads(bad)


def test_auto_leaves_the_cores_that_other_processes_keep_busy():
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        busy = busy_elsewhere()
        if busy is None:
            pytest.skip("no /proc/loadavg on this system")
        assert busy >= 2  # both spinners are runnable all the time; other load only adds
        assert 1 <= choose_threads("auto") <= max(1, usable_cores() - 2)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
