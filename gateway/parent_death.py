"""``die_with_parent``: a child process that the kernel kills when its parent dies.

A SIGKILLed parent cannot run any clean-up, so it asks the kernel up front
(``prctl(PR_SET_PDEATHSIG)``, Linux only). Used by ``llm-gateway up`` for its children
(``cli.supervisor``) and by the API for its heavy-lane sibling (``api.lane_sibling``).

The death signal fires when the *thread* that forked the child ends, so children must be
started from a thread that lives as long as the parent (the main thread, or the event
loop's).
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
# Looked up before any fork, so the child only makes the call (no imports or allocation
# between fork and exec). None off Linux: there, a killed parent leaves its children.
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)


def die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen``: SIGKILL when ``parent`` (the pid of the
    process calling Popen) dies."""

    def set_death_signal() -> None:  # runs in the child, between fork and exec
        if _prctl is None:
            return
        if _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before the call: nobody would tell
            os._exit(1)

    return set_death_signal
