"""``ReplicaWait``: a write is acknowledged only once replicas hold it.

Redis replicates asynchronously: a master that dies right after answering can take the
last writes with it, and the replica Sentinel promotes never had them. ``WAIT n timeout``
on the connection that wrote blocks until ``n`` replicas have acknowledged everything
that connection wrote (or the timeout passes), so a write confirmed this way survives a
failover to any of those replicas (docs/redis-failover.md)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from gateway.errors import NotReplicated


@dataclass(frozen=True, slots=True)
class ReplicaWait:
    """``replicas`` = 0: no wait (a write is confirmed by the master alone)."""

    replicas: int = 0
    timeout_ms: int = 1000

    @property
    def enabled(self) -> bool:
        return self.replicas > 0

    async def confirm(self, connection: Redis) -> None:
        """Wait for the writes made on ``connection`` (a single-connection client: WAIT
        counts only its own connection's writes); too few replicas in time is a 503."""
        acked = int(await connection.wait(self.replicas, self.timeout_ms))
        if acked < self.replicas:
            raise NotReplicated(
                f"the job store has not replicated the job yet ({acked} of {self.replicas} "
                "replicas); retry with the same Idempotency-Key"
            )
