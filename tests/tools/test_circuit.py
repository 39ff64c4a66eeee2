"""``ServiceCircuit`` on a real Redis: shared by separate breakers (as separate processes
would be), failing fast while open, one probe at a time after the reset, lapsing probes,
and the stand-in service behind it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from emulator.downstream import DownstreamControl
from gateway import keys
from gateway.errors import ToolFailed, ToolUnavailable
from tests.support.processes import RedisServer
from tests.tools.stand_in import DownstreamServer
from tools.circuit import CircuitState, ServiceCircuit
from tools.downstream import DownstreamClient

SERVICE = "semantic_search"


@pytest.fixture
def second_redis(redis_server: RedisServer, isolated_redis: redis.Redis) -> Iterator[redis.Redis]:
    """Another connection to ``isolated_redis``'s database, as another process would have."""
    client = redis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/1")
    yield client
    client.close()


def breaker(client: redis.Redis, threshold: int = 3, reset: float = 1.0) -> ServiceCircuit:
    return ServiceCircuit(client, failure_threshold=threshold, reset_seconds=reset)


def caller(circuit: ServiceCircuit) -> DownstreamClient:
    return DownstreamClient(
        timeout_seconds=5, max_attempts=2, backoff_seconds=0.01, circuit=circuit
    )


def search(client: DownstreamClient, server: DownstreamServer) -> object:
    return client.request(SERVICE, "POST", f"{server.url}/v1/search", json={"query": "redis"})


def fail(circuit: ServiceCircuit, times: int) -> None:
    for _ in range(times):
        circuit.record(circuit.admit(SERVICE), "fail")


def test_failures_from_two_processes_open_the_circuit_and_it_fails_fast(
    isolated_redis: redis.Redis,
    second_redis: redis.Redis,
    downstream_server: DownstreamServer,
    downstream: DownstreamControl,
) -> None:
    one, two = caller(breaker(isolated_redis)), caller(breaker(second_redis))
    downstream.behave("/v1/search", status=503)
    for client in (one, two, one):
        with pytest.raises(ToolUnavailable, match="answered 503"):
            search(client, downstream_server)
    # Retries inside one call count once: three calls of two attempts each.
    assert len(downstream.requests()) == 6
    status = breaker(isolated_redis).state(SERVICE)
    assert (status.state, status.failures) == (CircuitState.OPEN, 3)
    # Not a lower bound: the three failing calls may take a while on a busy runner.
    assert 0 < status.probe_in_seconds <= 1.0

    for client in (one, two):
        with pytest.raises(ToolUnavailable, match="circuit is open") as caught:
            search(client, downstream_server)
        # Refused without a call (not timed: a busy runner makes any bound flaky).
        assert len(downstream.requests()) == 6, "an open circuit must not touch the service"
        assert caught.value.retry_after is not None
        assert 0 < caught.value.retry_after <= 1.0

    downstream.reset()
    time.sleep(1.05)
    answer = search(two, downstream_server)
    assert isinstance(answer, dict)
    assert breaker(isolated_redis).state(SERVICE).state is CircuitState.CLOSED
    assert isinstance(search(one, downstream_server), dict)
    assert len(downstream.requests()) == 2
    one.close()
    two.close()


def test_probe_against_a_stopped_service_reopens_then_closes_when_it_is_back(
    isolated_redis: redis.Redis,
    downstream_server: DownstreamServer,
    downstream: DownstreamControl,
) -> None:
    circuit = breaker(isolated_redis, threshold=2, reset=0.5)
    client = caller(circuit)
    downstream_server.stop()
    for _ in range(2):
        with pytest.raises(ToolUnavailable, match="unreachable"):
            search(client, downstream_server)
    with pytest.raises(ToolUnavailable, match="circuit is open"):
        search(client, downstream_server)
    time.sleep(0.55)
    with pytest.raises(ToolUnavailable, match="unreachable"):
        search(client, downstream_server)  # the probe: still down, so open again
    assert circuit.state(SERVICE).state is CircuitState.OPEN
    with pytest.raises(ToolUnavailable, match="circuit is open"):
        search(client, downstream_server)

    downstream_server.start()
    time.sleep(0.55)
    assert isinstance(search(client, downstream_server), dict)
    assert circuit.state(SERVICE).state is CircuitState.CLOSED
    client.close()


def test_only_one_probe_runs_while_many_callers_arrive(
    isolated_redis: redis.Redis,
    second_redis: redis.Redis,
    downstream_server: DownstreamServer,
    downstream: DownstreamControl,
) -> None:
    circuits = [breaker(isolated_redis, reset=0.3), breaker(second_redis, reset=0.3)]
    fail(circuits[0], 3)
    time.sleep(0.35)
    downstream.behave("/v1/search", latency_ms=400)
    clients = [caller(circuits[i % 2]) for i in range(8)]
    results: list[object] = [None] * 8
    barrier = threading.Barrier(8)

    def call(i: int) -> None:
        barrier.wait()
        try:
            results[i] = search(clients[i], downstream_server)
        except ToolUnavailable as exc:
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, ToolUnavailable)]
    assert (len(answered), len(refused)) == (1, 7)
    assert all(r.retry_after is not None and r.retry_after <= 1.0 for r in refused)
    assert len(downstream.requests()) == 1
    assert circuits[1].state(SERVICE).state is CircuitState.CLOSED
    for client in clients:
        client.close()


def test_a_probe_that_never_reports_lapses(isolated_redis: redis.Redis) -> None:
    circuit = breaker(isolated_redis, threshold=1, reset=0.2)
    fail(circuit, 1)
    time.sleep(0.25)
    lost = circuit.admit(SERVICE, probe_lease_seconds=0.3)  # its caller dies: no record
    assert lost.probe
    status = circuit.state(SERVICE)
    assert status.state is CircuitState.HALF_OPEN
    with pytest.raises(ToolUnavailable) as caught:
        circuit.admit(SERVICE)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after <= 0.3
    time.sleep(0.35)
    probe = circuit.admit(SERVICE)
    assert probe.probe
    # The lost probe turning up late decides nothing; the current one does.
    assert circuit.record(lost, "fail") is CircuitState.HALF_OPEN
    assert circuit.record(probe, "ok") is CircuitState.CLOSED


def test_a_callers_4xx_counts_as_the_service_working(
    isolated_redis: redis.Redis,
    downstream_server: DownstreamServer,
    downstream: DownstreamControl,
) -> None:
    circuit = breaker(isolated_redis, threshold=2)
    client = caller(circuit)
    downstream.behave("/v1/search", status=503, times=2)  # one call, two attempts
    with pytest.raises(ToolUnavailable, match="answered 503"):
        search(client, downstream_server)
    assert circuit.state(SERVICE).failures == 1
    downstream.behave("/v1/search", status=404, times=1)
    with pytest.raises(ToolFailed, match="404"):
        search(client, downstream_server)
    # The 404 reset the count: failures must be consecutive.
    assert circuit.state(SERVICE).failures == 0
    downstream.behave("/v1/search", status=503, times=2)
    with pytest.raises(ToolUnavailable, match="answered 503"):
        search(client, downstream_server)
    assert circuit.state(SERVICE).state is CircuitState.CLOSED
    client.close()


def test_a_probe_without_a_verdict_lets_the_next_caller_probe(isolated_redis: redis.Redis) -> None:
    circuit = breaker(isolated_redis, threshold=1, reset=0.2)
    fail(circuit, 1)
    time.sleep(0.25)

    def crash() -> None:
        raise KeyError("our own bug")

    with pytest.raises(KeyError, match="our own bug"):
        circuit.call(SERVICE, crash)
    assert circuit.admit(SERVICE).probe


def test_services_have_separate_circuits_and_state_is_observable(
    isolated_redis: redis.Redis,
) -> None:
    circuit = breaker(isolated_redis, threshold=2, reset=30)
    fail(circuit, 2)
    assert circuit.state(SERVICE).public() == {
        "service": SERVICE,
        "state": "open",
        "failures": 2,
        "probe_in_seconds": pytest.approx(30, abs=0.5),
    }
    assert circuit.state("ai_agents").public() == {
        "service": "ai_agents",
        "state": "closed",
        "failures": 0,
        "probe_in_seconds": 0,
    }
    assert not circuit.admit("ai_agents").probe
    assert isolated_redis.exists(keys.tool_circuit(SERVICE))
    assert keys.tool_circuit(SERVICE) == "llmgw:tool-circuit:semantic_search"
    assert isolated_redis.pttl(keys.tool_circuit(SERVICE)) > 0


def test_an_unreachable_redis_lets_calls_through(redis_server: RedisServer) -> None:
    dead = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    circuit = breaker(dead)
    assert circuit.call(SERVICE, lambda: "answered") == "answered"
