"""A real Redis master, its replicas and three Sentinels on free local ports, for the
failover tests: the shape prod runs (deploy/kubernetes/components/redis-ha)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.processes import Process, RedisServer, free_port, wait_until

MASTER_NAME = "gwmaster"


@dataclass
class SentinelGroup:
    tmp: Path
    # Short, so a test sees a failover within seconds: the master is judged down after
    # a second without an answer (prod: 5 s).
    down_after_ms: int = 1000
    failover_timeout_ms: int = 3000
    # Two, as in prod: after one failover the new master still has a replica, so a submit
    # that waits for one (REDIS_WAIT_REPLICAS=1) can be confirmed again.
    replica_count: int = 2
    master: RedisServer | None = None
    replicas: list[RedisServer] = field(default_factory=list)
    sentinels: list[Process] = field(default_factory=list)
    sentinel_ports: list[int] = field(default_factory=list)

    @property
    def sentinels_setting(self) -> str:
        """``LLM_GATEWAY_REDIS_SENTINELS``."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def env(self) -> dict[str, str]:
        return {
            "LLM_GATEWAY_REDIS_SENTINELS": self.sentinels_setting,
            "LLM_GATEWAY_REDIS_SENTINEL_MASTER": MASTER_NAME,
            # The data nodes' database; its host and port are the Sentinels' to say.
            "LLM_GATEWAY_REDIS_URL": "redis://sentinel-named-master/0",
        }

    def start(self) -> SentinelGroup:
        """Everything started, or (on any failure) everything stopped again."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> SentinelGroup:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed")
        self.master = RedisServer(free_port(), self.tmp / "master", self.tmp / "master.log")
        self.master.start()
        for index in range(self.replica_count):
            replica = RedisServer(
                free_port(),
                self.tmp / f"replica-{index}",
                self.tmp / f"replica-{index}.log",
                extra_args=("--replicaof", "127.0.0.1", str(self.master.port)),
            )
            self.replicas.append(replica)
            replica.start()
            with redis.Redis.from_url(replica.url) as client:
                wait_until(
                    lambda client=client: client.info("replication")["master_link_status"] == "up",
                    20,
                    "replica in sync",
                )
        for index in range(3):
            port = free_port()
            conf = self.tmp / f"sentinel-{index}.conf"
            # Sentinel rewrites its config file as it learns the group: one file each.
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.tmp}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
                f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            process = Process(
                f"sentinel-{index}",
                [server, str(conf), "--sentinel"],
                dict(os.environ),
                self.tmp / f"sentinel-{index}.log",
            ).start()
            self.sentinels.append(process)
            self.sentinel_ports.append(port)
        for port in self.sentinel_ports:
            wait_until(lambda port=port: self._sees_group(port), 30, f"sentinel on {port}")
        return self

    def _sees_group(self, port: int) -> bool:
        """The Sentinel knows the replica and both other Sentinels: a failover can run."""
        with redis.Redis(port=port, decode_responses=True) as client:
            state = client.sentinel_master(MASTER_NAME)
            return (
                int(state["num-slaves"]) >= self.replica_count
                and int(state["num-other-sentinels"]) >= 2
            )

    def master_port(self) -> int:
        """The master the Sentinels name now."""
        with redis.Redis(port=self.sentinel_ports[0], decode_responses=True) as client:
            _, port = client.sentinel_get_master_addr_by_name(MASTER_NAME)
            return int(port)

    def stop(self) -> None:
        for process in self.sentinels:
            process.kill()
        for server in [*self.replicas, self.master]:
            if server is not None:
                server.stop()
