"""A small synchronous client for the control API (stdlib only).

Handy in tests and benchmarks::

    control = EmulatorControl(url)
    control.script({"status": 429, "retry_after": 2}, {"reply": "ok"})
    ...
    assert [r["status"] for r in control.requests()] == [429, 200]
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any


class EmulatorControl:
    """Control API of the emulator at ``base_url`` (e.g. ``http://127.0.0.1:8090``)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"emulator URL must be http(s): {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        # The scheme is checked in __init__, so urllib cannot open file: URLs here.
        request = urllib.request.Request(  # noqa: S310
            self.base_url + "/_emulator/" + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            return json.loads(response.read())

    def health(self) -> bool:
        """Whether the emulator answers."""
        return bool(self._call("GET", "health").get("ok"))

    def requests(self) -> list[dict[str, Any]]:
        """Recorded generation requests, oldest first."""
        records: list[dict[str, Any]] = self._call("GET", "requests")["requests"]
        return records

    def clear_requests(self) -> None:
        """Forget recorded requests and restart peak concurrency tracking."""
        self._call("DELETE", "requests")

    def stats(self) -> dict[str, int]:
        """``in_flight``, ``peak_in_flight`` (since the last clear) and ``requests`` count."""
        stats: dict[str, int] = self._call("GET", "stats")
        return stats

    def set_latency(self, latency_ms: int) -> None:
        """Change the server-wide latency."""
        self._call("POST", "config", {"latency_ms": latency_ms})

    def set_token_interval(self, token_interval_ms: int) -> None:
        """Change the server-wide pause between two chunks of a streamed reply."""
        self._call("POST", "config", {"token_interval_ms": token_interval_ms})

    def script(self, *behaviours: dict[str, Any]) -> int:
        """Queue behaviours for the next requests; returns the queue length."""
        queued: int = self._call("POST", "script", {"behaviours": list(behaviours)})["queued"]
        return queued

    def clear_script(self) -> None:
        """Drop queued behaviours."""
        self._call("DELETE", "script")

    def ollama_models(self) -> list[str]:
        """The models the emulated Ollama server lists at ``GET /api/tags``."""
        models: list[str] = self._call("GET", "ollama/models")["models"]
        return models

    def set_ollama_models(self, models: list[str]) -> None:
        """Change that list, as ``ollama pull`` / ``ollama rm`` would."""
        self._call("PUT", "ollama/models", {"models": models})

    def reset(self, latency_ms: int = 0) -> None:
        """Clear recorded requests (and the peak) and the script, set the latency (and no
        stream pacing) and restore the default Ollama model list."""
        self.clear_requests()
        self.clear_script()
        self._call("POST", "config", {"latency_ms": latency_ms, "token_interval_ms": 0})
        self._call("DELETE", "ollama/models")
