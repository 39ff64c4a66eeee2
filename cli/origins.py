"""Which provider instances ``up`` serves from the emulator and which from the real service.

A provider stays real when any of its variables is set (see ``LocalStack``), so a key left
in the shell quietly changes what the demo exercises; ``up`` prints this, and the demo's
table shows it per job.
"""

from __future__ import annotations

from typing import Literal

from providers.config import ProvidersConfig

Origin = Literal["real", "emulated"]


def instance_origins(providers: ProvidersConfig, emulator_url: str) -> dict[str, Origin]:
    """Each instance's origin, judged by where its requests go: its endpoint is the
    emulator's or it is not (a real key pointed at the emulator would still be emulated)."""
    prefix = emulator_url.rstrip("/")
    return {
        name: "emulated"
        if inst.base_url is not None
        and (inst.base_url == prefix or inst.base_url.startswith(f"{prefix}/"))
        else "real"
        for name, inst in providers.instances.items()
    }


def describe_origins(providers: ProvidersConfig, origins: dict[str, Origin]) -> str:
    """Lines for the console: the real instances with their endpoints, then the emulated."""
    real = [
        f"{name} ({providers.instances[name].base_url or 'default endpoint'})"
        for name, origin in origins.items()
        if origin == "real"
    ]
    emulated = [name for name, origin in origins.items() if origin == "emulated"]
    return f"real     {', '.join(real) or 'none'}\nemulated {', '.join(emulated) or 'none'}"
