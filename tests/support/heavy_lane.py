"""The heavy lane seen from outside, for tests: an API's sibling process, and the lane's
counter on ``/metrics``."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx

from tests.support.local_stack import children_of
from tests.support.processes import wait_until

# Switches the lane on for an API the tests start (the test stack has it off): POST bodies
# from 64 KiB on, with the default body limit (1 MiB) rather than the stack's 64 KiB.
LANE_ENV = {
    "LLM_GATEWAY_HEAVY_LANE_BODY_BYTES": "65536",
    "LLM_GATEWAY_MAX_BODY_BYTES": "1048576",
}


def sibling_of(api_pid: int, within: float = 60) -> int:
    """The pid of the API's lane sibling, once it runs."""
    wait_until(lambda: bool(children_of(api_pid)), within, "heavy-lane sibling")
    (pid,) = children_of(api_pid)
    return pid


def socket_of(sibling_pid: int) -> Path:
    argv = Path(f"/proc/{sibling_pid}/cmdline").read_bytes().split(b"\0")
    return Path(argv[argv.index(b"--uds") + 1].decode())


def lane_count(api_url: str, outcome: str) -> float:
    """``llm_gateway_heavy_lane_requests_total{outcome=...}`` as the API reports it."""
    text = httpx.get(f"{api_url}/metrics", timeout=30).text
    pattern = rf'^llm_gateway_heavy_lane_requests_total\{{outcome="{outcome}"\}} (\S+)$'
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def wait_for_lane(api_url: str, api_pid: int, key: str) -> int:
    """Wait until the API forwards to its sibling (a heavy body of bad JSON, which changes
    nothing, is sent until one is counted as forwarded); the sibling's pid."""
    sibling_of(api_pid)
    # Over both thresholds in use (64 KiB here, the default 256 KiB), within 1 MiB.
    body = b"{" + b" " * 300_000
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}

    def forwarded() -> bool:
        before = lane_count(api_url, "forwarded")
        httpx.post(f"{api_url}/v1/jobs", content=body, headers=headers, timeout=30)
        return lane_count(api_url, "forwarded") > before

    wait_until(forwarded, 60, "heavy lane")
    pid = sibling_of(api_pid)
    assert os.path.exists(socket_of(pid))
    return pid
