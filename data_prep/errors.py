"""A user-facing error: the command line prints its message as one line and exits non-zero."""

from __future__ import annotations

import functools
import sys

from skysynth.common.startup import work_starts


class PrepError(Exception):
    """Bad input that the user can fix (missing path, empty archive, wrong mask size...)."""


def exit_on_user_error(main):
    """Wrap a command's main so that user errors print one line to stderr and exit with status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        work_starts()
        try:
            return main(*args, **kwargs)
        except (PrepError, FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted: finished parts are kept; run the same command again to resume", file=sys.stderr)
            sys.exit(130)

    return wrapper


def die_with_parent() -> None:
    """Pool-worker initializer: the kernel ends this worker when its parent dies, even by kill -9
    (Linux prctl PR_SET_PDEATHSIG); elsewhere a no-op."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
