"""Thread choice for a shared machine: one thread per core that is free now."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from skysynth.common.threads import busy_elsewhere, choose_threads, parse_threads, usable_cores


def test_thread_settings_are_auto_or_a_positive_number():
    assert parse_threads("auto") is None and parse_threads(" AUTO ") is None
    assert parse_threads(3) == 3 and parse_threads("2") == 2 and choose_threads("2") == 2
    for bad in ("0", 0, -1, "two", "1.5", ""):
        with pytest.raises(ValueError, match="threads must be auto"):
            parse_threads(bad)


def test_auto_leaves_the_cores_that_other_processes_keep_busy():
    # Each spinner says so once its interpreter has started: on a cold machine a starting
    # Python waits on the disk, and a waiting process is not runnable.
    spin = "import sys; sys.stdout.write('ready\\n'); sys.stdout.flush()\nwhile True: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE) for _ in range(2)]
    try:
        for spinner in spinners:
            assert spinner.stdout.readline() == b"ready\n"
        bound = max(1, usable_cores() - 2)
        readings = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            busy = busy_elsewhere()
            if busy is None:
                pytest.skip("no /proc/loadavg on this system")
            readings.append((busy, choose_threads("auto")))
            if busy >= 2 and readings[-1][1] <= bound:
                break
            time.sleep(0.05)
        # both spinners are runnable all the time (other load only adds), so within a few
        # readings the count sees them and auto leaves their cores
        busy, threads = readings[-1]
        assert busy >= 2 and 1 <= threads <= bound, readings
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
