"""What a stored job costs in Redis: ``INFO memory`` ``used_memory`` before and after a batch
of finished small jobs, and ``MEMORY USAGE`` of one finished job's keys, field by field.

The bar is ≤ 2 KB per job *plus its payload*: the request and result JSON are the caller's
bytes, the rest (the hash's other fields, its encoding overhead, the tenant index entry) is
the gateway's bookkeeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis
from job_batches import Batch, run_batch
from report import table, verdict
from stack import Target

from gateway.keys import LIMIT_PREFIX, tenant_jobs
from gateway.keys import job as job_key

BOOKKEEPING_BAR = 2048
# Before each reading: lets in-flight acks and the API's last replies leave Redis's buffers.
SETTLE_S = 2.0
OTHER_KEYS_SHOWN = 8
PAYLOAD_FIELDS = ("request", "result")


@dataclass(frozen=True, slots=True)
class JobMemory:
    jobs: int
    used_delta: int
    dataset_delta: int
    keys_delta: int
    hashes_mean: float
    payload_mean: float
    hash_bytes: int
    hash_encoding: str
    listpack_value: int
    index_entry_bytes: float
    one_payload: int
    fields: dict[str, int]
    # Keys other than the job hashes whose MEMORY USAGE changed over the batch (top few).
    other_keys_grown: dict[str, int]
    # What the limiter's sliding windows (``llmgw:limit:*``) grew by: they hold the last
    # minute's calls, so they grow with the job *rate* and shrink as the window passes.
    windows_delta: int

    @property
    def per_job(self) -> float:
        return self.used_delta / self.jobs

    @property
    def per_job_bookkeeping(self) -> float:
        return self.per_job - self.payload_mean

    @property
    def dataset_per_job(self) -> float:
        return self.dataset_delta / self.jobs

    @property
    def stored_per_job(self) -> float:
        """The dataset delta without the limiter's windows: what stays per stored job."""
        return (self.dataset_delta - self.windows_delta) / self.jobs

    @property
    def one_job_bookkeeping(self) -> float:
        return self.hash_bytes + self.index_entry_bytes - self.one_payload

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "used_memory_delta": self.used_delta,
            "used_memory_per_job": self.per_job,
            "used_memory_dataset_per_job": self.dataset_per_job,
            "limiter_windows_delta": self.windows_delta,
            "used_memory_dataset_per_job_without_windows": self.stored_per_job,
            "memory_usage_hash_mean": self.hashes_mean,
            "keys_per_job": self.keys_delta / self.jobs,
            "payload_mean_bytes": self.payload_mean,
            "per_job_minus_payload": self.per_job_bookkeeping,
            "one_job": {
                "hash_bytes": self.hash_bytes,
                "hash_encoding": self.hash_encoding,
                "hash_max_listpack_value": self.listpack_value,
                "index_entry_bytes": self.index_entry_bytes,
                "payload_bytes": self.one_payload,
                "minus_payload": self.one_job_bookkeeping,
                "fields": self.fields,
            },
            "other_keys_grown": self.other_keys_grown,
            "bar_bytes": BOOKKEEPING_BAR,
            # The dataset delta, not used_memory's: client and AOF buffers are not the jobs';
            # nor are the limiter's windows, which follow the rate, not the jobs kept.
            "met": self.stored_per_job - self.payload_mean <= BOOKKEEPING_BAR
            and self.one_job_bookkeeping <= BOOKKEEPING_BAR,
        }


def measure_job_memory(
    target: Target, jobs: int, clients: int, listpack_value: int | None = None
) -> JobMemory:
    """Run ``jobs`` small jobs to the end and measure what they left in Redis.
    ``listpack_value``: ``hash-max-listpack-value`` set (``CONFIG SET``) first, to see what
    a Redis configured so would keep; None leaves Redis's default (64 bytes)."""
    store = redis.Redis.from_url(target.redis_url, decode_responses=True)
    if listpack_value is not None:
        store.config_set("hash-max-listpack-value", listpack_value)
    time.sleep(SETTLE_S)
    before, keys_before, others_before = _memory(store), int(store.dbsize()), _other_keys(store)
    batch = run_batch(target, jobs, clients)
    if batch.errors:
        raise RuntimeError(f"memory batch had errors: {dict(batch.errors)}")
    time.sleep(SETTLE_S)
    after, keys_after, others_after = _memory(store), int(store.dbsize()), _other_keys(store)
    grown = {
        key: size - others_before.get(key, 0)
        for key, size in others_after.items()
        if size != others_before.get(key, 0)
    }
    payloads = _payload_sizes(store, batch)
    hashes = _hash_usages(store, batch)
    sample = batch.ids[-1]
    key = job_key(sample)
    fields = {str(name): int(store.hstrlen(key, name)) for name in sorted(store.hkeys(key))}
    index = tenant_jobs(str(store.hget(key, "tenant")))
    index_bytes = int(store.memory_usage(index, samples=0) or 0)
    memory = JobMemory(
        jobs=jobs,
        used_delta=after["used_memory"] - before["used_memory"],
        dataset_delta=after["used_memory_dataset"] - before["used_memory_dataset"],
        keys_delta=keys_after - keys_before,
        hashes_mean=sum(hashes) / len(hashes),
        payload_mean=sum(payloads) / len(payloads),
        hash_bytes=int(store.memory_usage(key, samples=0) or 0),
        hash_encoding=str(store.object("encoding", key)),
        listpack_value=int(store.config_get("hash-max-listpack-value")["hash-max-listpack-value"]),
        index_entry_bytes=index_bytes / max(int(store.zcard(index)), 1),
        one_payload=sum(fields.get(name, 0) for name in PAYLOAD_FIELDS),
        fields=fields,
        other_keys_grown=dict(sorted(grown.items(), key=lambda item: -item[1])[:OTHER_KEYS_SHOWN]),
        windows_delta=_windows_delta(others_before, others_after),
    )
    store.close()
    print_job_memory(memory)
    return memory


def _memory(store: redis.Redis) -> dict[str, int]:
    """``used_memory`` (everything the allocator holds for Redis, client buffers and the
    AOF buffer included: these swing with the load) and ``used_memory_dataset`` (that minus
    Redis's own overhead: the data)."""
    info = store.info("memory")
    return {name: int(info[name]) for name in ("used_memory", "used_memory_dataset")}


def _other_keys(store: redis.Redis) -> dict[str, int]:
    """``MEMORY USAGE`` of every key that is not a job hash: the shared structures (indexes,
    counters, queues) a job may grow."""
    job_prefix = job_key("")
    names = [str(k) for k in store.scan_iter(count=1000) if not str(k).startswith(job_prefix)]
    pipe = store.pipeline(transaction=False)
    for name in names:
        pipe.memory_usage(name, samples=0)
    return {name: int(n or 0) for name, n in zip(names, pipe.execute(), strict=True)}


def _windows_delta(before: dict[str, int], after: dict[str, int]) -> int:
    """How much the limiter's windows (``llmgw:limit:*``) grew, by ``MEMORY USAGE``."""
    names = {name for name in before.keys() | after.keys() if name.startswith(LIMIT_PREFIX)}
    return sum(after.get(name, 0) - before.get(name, 0) for name in names)


def _hash_usages(store: redis.Redis, batch: Batch) -> list[int]:
    """``MEMORY USAGE`` of every job hash of the batch (all its fields, exactly)."""
    pipe = store.pipeline(transaction=False)
    for job_id in batch.ids:
        pipe.memory_usage(job_key(job_id), samples=0)
    return [int(n or 0) for n in pipe.execute()]


def _payload_sizes(store: redis.Redis, batch: Batch) -> list[int]:
    """Request + result bytes of every job of the batch."""
    pipe = store.pipeline(transaction=False)
    for job_id in batch.ids:
        for name in PAYLOAD_FIELDS:
            pipe.hstrlen(job_key(job_id), name)
    sizes = [int(n) for n in pipe.execute()]
    return [sum(sizes[i : i + len(PAYLOAD_FIELDS)]) for i in range(0, len(sizes), 2)]


def print_job_memory(m: JobMemory) -> None:
    table(
        f"Redis memory per stored job ({m.jobs} finished small jobs, "
        f"hash-max-listpack-value {m.listpack_value})",
        ("measure", "bytes", "minus payload", f"bar ≤ {BOOKKEEPING_BAR} + payload"),
        [
            (
                "INFO used_memory delta / job",
                f"{m.per_job:,.0f}",
                f"{m.per_job_bookkeeping:,.0f}",
                verdict(m.per_job_bookkeeping <= BOOKKEEPING_BAR),
            ),
            (
                "INFO used_memory_dataset delta / job",
                f"{m.dataset_per_job:,.0f}",
                f"{m.dataset_per_job - m.payload_mean:,.0f}",
                verdict(m.dataset_per_job - m.payload_mean <= BOOKKEEPING_BAR),
            ),
            (
                "  the same, limiter windows left out",
                f"{m.stored_per_job:,.0f}",
                f"{m.stored_per_job - m.payload_mean:,.0f}",
                verdict(m.stored_per_job - m.payload_mean <= BOOKKEEPING_BAR),
            ),
            ("payload (request + result) mean", f"{m.payload_mean:,.0f}", "", ""),
            (
                "MEMORY USAGE job hash, mean of all",
                f"{m.hashes_mean:,.0f}",
                f"{m.hashes_mean - m.payload_mean:,.0f}",
                "",
            ),
            ("keys added / job (DBSIZE delta)", f"{m.keys_delta / m.jobs:.2f}", "", ""),
            (f"MEMORY USAGE job hash ({m.hash_encoding})", f"{m.hash_bytes:,}", "", ""),
            ("tenant index entry (zset / ZCARD)", f"{m.index_entry_bytes:,.0f}", "", ""),
            (
                "one job: hash + index entry",
                f"{m.hash_bytes + m.index_entry_bytes:,.0f}",
                f"{m.one_job_bookkeeping:,.0f}",
                verdict(m.one_job_bookkeeping <= BOOKKEEPING_BAR),
            ),
        ],
    )
    ordered = sorted(m.fields.items(), key=lambda item: -item[1])
    rows = [
        (name, f"{size:,}", "payload" if name in PAYLOAD_FIELDS else "") for name, size in ordered
    ]
    rows.append(("total value bytes", f"{sum(m.fields.values()):,}", ""))
    rows.append(("total field-name bytes", f"{sum(len(name) for name in m.fields):,}", ""))
    table("one finished job's hash: fields by size (HSTRLEN)", ("field", "bytes", ""), rows)
    table(
        f"other keys whose MEMORY USAGE changed over the batch (top {OTHER_KEYS_SHOWN})",
        ("key", "bytes", "per job"),
        [(k, f"{d:+,}", f"{d / m.jobs:+,.1f}") for k, d in m.other_keys_grown.items()],
    )
