"""``Supervisor``: the child processes of ``up``, restarted when one dies, and never left
behind when ``up`` itself dies.

Each child runs in its own session (so a Ctrl-C in the terminal reaches ``up`` only, which
then stops them in order) and asks the kernel for SIGKILL when its parent dies
(``gateway.parent_death``): a SIGKILLed ``up`` cannot run any clean-up, so the kernel has to do
it. SIGKILL rather than SIGTERM because a child busy in a warm shutdown (a Celery worker
finishing its jobs) would otherwise outlive ``up`` by minutes; nothing is lost that the
gateway does not already recover (a killed worker's jobs come back through their leases,
Redis keeps its append-only file). The signal goes to the direct child only; none of them
keeps long-lived children of its own (workers use the threads pool, the API and the
emulators serve in one process, Redis's fork children are short snapshot writers that end
by themselves), and the orderly stop signals each child's whole process group.

The death signal fires when the *thread* that forked the child ends, so children are
started from the main thread only (``up`` has no other).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from rich.console import Console

from gateway.parent_death import die_with_parent

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
# A child that stayed up this long before it died is restarted after the first backoff
# again: it was a one-off, not a crash loop.
STABLE_SECONDS = 60.0
STOP_GRACE_SECONDS = 15.0


class StackError(RuntimeError):
    """The local stack could not be brought up."""


@dataclass(slots=True)
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    # Consecutive restarts without a stable run in between: the backoff's exponent.
    restarts: int = 0
    restart_at: float | None = None


class Supervisor:
    """Starts children, restarts the ones that exit (``tick``) and stops them all."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.children: list[Child] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, env, _popen(argv, env))
        self.children.append(child)
        return child

    def check_running(self) -> None:
        """While the stack comes up, an exit is a start-up error (a busy port, bad
        configuration), not something a restart would fix."""
        for child in self.children:
            if child.proc.poll() is not None:
                raise StackError(f"{child.name} {describe_exit(child.proc.returncode)}")

    def tick(self) -> set[str]:
        """Notice exited children and restart the ones whose backoff has passed; returns
        the names of those restarted now."""
        now = time.monotonic()
        restarted: set[str] = set()
        for child in self.children:
            code = child.proc.poll()
            if code is None:
                continue
            if child.restart_at is None:
                if now - child.started >= STABLE_SECONDS:
                    child.restarts = 0
                delay = min(FIRST_BACKOFF_SECONDS * 2**child.restarts, MAX_BACKOFF_SECONDS)
                child.restart_at = now + delay
                self.console.print(
                    f"[bold yellow]{child.name}[/] (pid {child.proc.pid}) "
                    f"{describe_exit(code)}; restarting in {delay:g} s"
                )
            elif now >= child.restart_at:
                _kill_group(child.proc.pid, signal.SIGKILL)  # anything it left behind
                child.proc = _popen(child.argv, child.env)
                child.started, child.restart_at = now, None
                child.restarts += 1
                restarted.add(child.name)
                self.console.print(f"[green]{child.name}[/] restarted (pid {child.proc.pid})")
        return restarted

    def stop(self, first: Collection[str], last: Collection[str]) -> None:
        """Stop the children named in ``first``, then all others together, then those in
        ``last``; each stage gets SIGTERM, and SIGKILL after the grace period."""
        stages = (
            [c for c in self.children if c.name in first],
            [c for c in self.children if c.name not in first and c.name not in last],
            [c for c in self.children if c.name in last],
        )
        for stage in stages:
            _stop_together(stage)
        self.children.clear()


def describe_exit(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def _popen(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, env=env, start_new_session=True, preexec_fn=die_with_parent(os.getpid())
    )


def _stop_together(children: list[Child]) -> None:
    running = [c for c in children if c.proc.poll() is None]
    for child in running:
        _kill_group(child.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in running:
        try:
            child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(child.proc.pid, signal.SIGKILL)
            child.proc.wait()


def _kill_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)
