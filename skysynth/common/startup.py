"""Ctrl+C while a command is still starting (importing torch, composing its Hydra config) ends it
with one line, not a traceback of the import machinery. Standard library only, so that it is in
place before the heavy imports."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading


def _leave(signum, frame):
    # Nothing is written before a command's work starts, so leaving at once loses nothing; raising
    # here instead can land inside a C++ extension's import and abort the process.
    sys.stderr.write("interrupted before any work started; nothing was written\n")
    sys.stderr.flush()
    os._exit(130)


@contextlib.contextmanager
def quiet_start(module_name: str):
    """Around a command module's imports: `with quiet_start(__name__): import torch ...`. From here
    until the command calls `work_starts()`, Ctrl+C ends it with one line. Only when the module runs
    as the command (not when imported as a library), only where Ctrl+C would raise
    KeyboardInterrupt (a shell's background job ignores it), and only in the main thread."""
    if (
        module_name == "__main__"
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ):
        signal.signal(signal.SIGINT, _leave)
    yield


def work_starts() -> None:
    """Where a command's own Ctrl+C handling begins (its `except KeyboardInterrupt`, which keeps
    what was finished): Python's KeyboardInterrupt is back."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is _leave:
        signal.signal(signal.SIGINT, signal.default_int_handler)
