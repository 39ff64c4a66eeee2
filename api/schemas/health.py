"""``/health`` and ``/health/ready``."""

from __future__ import annotations

from typing import Literal

from api.schemas.common import ResponseModel


class Health(ResponseModel):
    status: Literal["ok"]


class Readiness(ResponseModel):
    """Ready when Redis answers and a worker sent a heartbeat recently; ``queues`` says
    which queues have a live consumer. 503 with ``no_workers`` when none has."""

    status: Literal["ready", "no_workers"]
    redis: Literal["ok"]
    workers: int
    queues: dict[str, bool]
    disabled_instances: list[str]


class RedisDown(ResponseModel):
    """``/health/ready``'s 503 when Redis does not answer."""

    status: Literal["unavailable"]
    redis: Literal["down"]
