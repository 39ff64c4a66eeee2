"""The login of the Flower that ``up`` starts, kept out of logs.

``up``'s output usually ends up in a file (``make up > up.log``, a CI log, a terminal
multiplexer's scrollback). A password printed there is a password anyone reading the log
has, so a generated one goes to a file only its owner can read (``0600``, in the state
dir, reused on the next ``up``) and the output names the file. It is shown inline only
when the output is a terminal, where nothing keeps it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

LOGIN_FILE = "flower-login"


@dataclass(frozen=True, slots=True)
class FlowerLogin:
    """``user:password`` for Flower, and where it came from."""

    login: str
    # The file holding a generated login; None when the operator configured it.
    path: Path | None

    def describe(self, *, terminal: bool) -> str:
        """How ``up`` tells the user the login, without writing the password into a log."""
        if self.path is None:
            return "login from LLM_GATEWAY_FLOWER_BASIC_AUTH"
        if terminal:
            return f"login {self.login}, kept in {self.path}"
        return f"login in {self.path}"


def flower_login(state_dir: Path, configured: str | None) -> FlowerLogin:
    """The configured login, else the one kept in ``state_dir``, else a new random one
    written there (``0600`` from the start: never readable by others, not even briefly)."""
    if configured:
        return FlowerLogin(configured, None)
    path = state_dir / LOGIN_FILE
    with contextlib.suppress(FileNotFoundError):
        kept = path.read_text().strip()
        if kept:
            path.chmod(0o600)  # a copy restored with looser permissions is tightened
            return FlowerLogin(kept, path)
    state_dir.mkdir(parents=True, exist_ok=True)
    login = f"admin:{secrets.token_urlsafe(12)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(login + "\n")
    path.chmod(0o600)  # O_CREAT's mode applies to a new file only
    return FlowerLogin(login, path)
