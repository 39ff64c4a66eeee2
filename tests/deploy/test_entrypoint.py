"""scripts/entrypoint.sh, the image's entrypoint: waits for Redis (bounded), then execs
the command; a Redis that never answers fails the start with a message that does not
print the URL (it may carry a password). Run here with sh and the project's python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.processes import RedisServer, free_port

ENTRYPOINT = Path(__file__).resolve().parents[2] / "scripts" / "entrypoint.sh"


def run(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    # The image's PATH has the venv first: so does this one.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command],
        env={"PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_it_execs_the_command_once_redis_answers(redis_server: RedisServer) -> None:
    result = run({"LLM_GATEWAY_REDIS_URL": redis_server.url}, "sh", "-c", 'echo "ran as $0"')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ran as sh\n"


def test_a_redis_that_never_answers_fails_the_start_without_printing_its_url() -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    env = {"LLM_GATEWAY_REDIS_URL": url, "LLM_GATEWAY_ENTRYPOINT_REDIS_WAIT_SECONDS": "1"}
    result = run(env, "echo", "should not run")
    assert result.returncode != 0
    assert "should not run" not in result.stdout
    assert "Redis did not answer within 1s" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_no_wait_without_a_redis_url_or_when_told_not_to() -> None:
    assert run({}, "echo", "ran").stdout == "ran\n"
    env = {
        "LLM_GATEWAY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "LLM_GATEWAY_ENTRYPOINT_REDIS_WAIT_SECONDS": "0",
    }
    assert run(env, "echo", "ran").stdout == "ran\n"


def test_the_exit_status_is_the_commands() -> None:
    assert run({}, "sh", "-c", "exit 7").returncode == 7
