"""``/health`` and ``/health/ready``."""

from __future__ import annotations

from typing import Literal

from api.schemas.common import ResponseModel


class Health(ResponseModel):
    status: Literal["ok"]


class Readiness(ResponseModel):
    """Ready (200) whenever Redis answers: the API can take jobs and serve their status
    with no worker alive, and its jobs wait in their queues. Missing workers show here,
    not as NotReady: ``queue_workers`` counts the live workers of each queue, ``queues``
    says whether it has one, ``missing_workers`` lists those without."""

    status: Literal["ready"]
    redis: Literal["ok"]
    workers: int
    queues: dict[str, bool]
    queue_workers: dict[str, int]
    missing_workers: list[str]
    disabled_instances: list[str]


class RedisDown(ResponseModel):
    """``/health/ready``'s 503 when Redis does not answer."""

    status: Literal["unavailable"]
    redis: Literal["down"]
