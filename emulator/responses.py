"""Fast JSON responses (orjson) shared by the app and protocol modules."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSONResponse(Response):
    """``application/json`` response serialised with orjson.

    The emulator is the baseline of latency benchmarks, so its own overhead
    should stay negligible; orjson is several times faster than ``json``.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content``."""
        return orjson.dumps(content)
