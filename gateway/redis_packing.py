"""Redis commands packed by hiredis in one C call.

redis-py's hiredis serializer first passes every argument through its encoder in Python (a
generator and about eight ``isinstance`` checks per argument) and only then lets hiredis
pack them. The gateway's scripts carry many arguments (a job's three worker scripts about
130 together), so that pass was most of a script call's client CPU: an EVALSHA with 33
arguments cost 164 µs of the caller's CPU, 101 µs packed here (``bench/redis_packing.py``).

hiredis's ``pack_command`` takes ``str``, ``int``, ``float`` and ``bytes`` itself, encoding
text as UTF-8 and numbers as their ``repr``, as redis-py's encoder does with the clients'
encoding (UTF-8, strict). Anything else it refuses (a ``bool`` or ``None``, which redis-py
refuses with its ``DataError``; a ``bytearray``) goes to redis-py's own serializer, unchanged.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, cast

from redis.utils import HIREDIS_AVAILABLE

if HIREDIS_AVAILABLE:
    import hiredis


class CommandPacker(Protocol):
    """What a redis-py connection packs its commands with (``Connection._command_packer``)."""

    def pack(self, *args: Any) -> list[bytes | memoryview]: ...


class HiredisPacker:
    """Packs a command with hiredis alone; ``fallback`` (redis-py's) takes what it refuses."""

    def __init__(self, fallback: CommandPacker) -> None:
        self._fallback = fallback

    def pack(self, *args: Any) -> list[bytes | memoryview]:
        command = args[0]
        # "SCRIPT LOAD" is two arguments, as redis-py splits it.
        if (isinstance(command, str) and " " in command) or (
            isinstance(command, bytes) and b" " in command
        ):
            args = (*command.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            return self._fallback.pack(*args)


ConnectionClass = TypeVar("ConnectionClass", bound=type)


def hiredis_packing(connection_class: ConnectionClass) -> ConnectionClass:
    """A subclass of ``connection_class`` (a sync or asyncio redis-py connection) whose
    commands :class:`HiredisPacker` packs; the class itself without hiredis installed."""
    if not HIREDIS_AVAILABLE:
        return connection_class
    base: Any = connection_class

    class Packed(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # None when redis-py packs in Python (its asyncio connection without hiredis).
            packer: CommandPacker | None = getattr(self, "_command_packer", None)
            if packer is not None:
                self._command_packer = HiredisPacker(packer)

    Packed.__name__ = Packed.__qualname__ = f"HiredisPacked{connection_class.__name__}"
    return cast(ConnectionClass, Packed)
