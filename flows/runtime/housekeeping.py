"""Background chores of a worker (and the agent): lineage to PostgreSQL, due retries back to their queues, and
lease renewal of messages still being worked on.

Each chore is safe to run from several processes at once: lineage and retries are taken under a short Redis lock.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import redis
from django.db import DatabaseError, close_old_connections

from flows.models import Call, Flow, Socket
from flows.runtime import broker, keys

log = logging.getLogger(__name__)
LINEAGE_BATCH = 2000
# kombu's Redis transport keeps unacked deliveries in this sorted set, scored by delivery time; a score older than
# the visibility timeout is redelivered. Renewing the score of a message still running keeps a long call from being
# handed out twice, which is what lets the visibility timeout be short enough to recover a killed worker in 30 s.
UNACKED_INDEX = "unacked_index"

_CALL_FIELDS = [
    "trace_id",
    "parent_id",
    "flow_id",
    "socket_id",
    "socket_name",
    "status",
    "received_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "error",
    "traceback",
    "stdout",
    "stderr",
    "worker",
    "attempt",
]


def _when(epoch: Any) -> datetime | None:
    return datetime.fromtimestamp(float(epoch), tz=UTC) if epoch else None


def _calls(records: Iterable[dict[str, Any]]) -> list[Call]:
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[record["id"]] = record  # later records of a call (a retry that then succeeded) win
    socket_ids = {r["socket_id"] for r in latest.values() if r.get("socket_id")}
    flow_ids = {r["flow_id"] for r in latest.values() if r.get("flow_id")}
    live_sockets = {str(pk) for pk in Socket.objects.filter(pk__in=socket_ids).values_list("pk", flat=True)}
    live_flows = {str(pk) for pk in Flow.objects.filter(pk__in=flow_ids).values_list("pk", flat=True)}
    return [
        Call(
            id=uuid.UUID(r["id"]),
            trace_id=uuid.UUID(r["trace_id"]),
            parent_id=uuid.UUID(r["parent_id"]) if r.get("parent_id") else None,
            flow_id=r["flow_id"] if r.get("flow_id") in live_flows else None,
            socket_id=r["socket_id"] if r.get("socket_id") in live_sockets else None,
            socket_name=r.get("socket_name") or "",
            status=r["status"],
            received_at=_when(r.get("received_at")),
            started_at=_when(r.get("started_at")),
            finished_at=_when(r.get("finished_at")),
            duration_ms=r.get("duration_ms"),
            error=r.get("error") or "",
            traceback=r.get("traceback") or "",
            stdout=r.get("stdout") or "",
            stderr=r.get("stderr") or "",
            worker=r.get("worker") or "",
            attempt=int(r.get("attempt") or 1),
        )
        for r in latest.values()
    ]


def _locked(name: str, seconds: int, fn: Callable[[], int]) -> int:
    client = broker.client()
    token = uuid.uuid4().hex
    if not client.set(name, token, nx=True, ex=seconds):
        return 0
    try:
        return fn()
    finally:
        # Release only our own lock (it may have expired and been taken by someone else meanwhile).
        client.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end", 1, name, token
        )


def flush_lineage(batch: int = LINEAGE_BATCH) -> int:
    """Move up to `batch` lineage records from Redis into Call rows; they leave Redis only once written."""

    def flush() -> int:
        client = broker.client()
        raw = client.lrange(keys.LINEAGE, 0, batch - 1)
        if not raw:
            return 0
        calls = _calls(json.loads(item) for item in raw)
        Call.objects.bulk_create(calls, update_conflicts=True, unique_fields=["id"], update_fields=_CALL_FIELDS)
        client.ltrim(keys.LINEAGE, len(raw), -1)
        return len(raw)

    return _locked(f"{keys.LINEAGE}:lock", 60, flush)


def release_due_retries(limit: int = 500) -> int:
    """Publish retries whose backoff has passed. Published before removal: a crash in between republishes an id
    the receiving socket may already have completed, which it then drops."""

    def release() -> int:
        client = broker.client()
        due = client.zrangebyscore(keys.DELAYED, "-inf", time.time(), start=0, num=limit)
        if not due:
            return 0
        entries = [json.loads(item) for item in due]  # type: ignore[arg-type]
        broker.publish((entry["queue_id"], entry["envelope"]) for entry in entries)
        client.zrem(keys.DELAYED, *due)
        return len(due)

    return _locked(f"{keys.DELAYED}:lock", 30, release)


def renew_leases(tags: Iterable[str]) -> None:
    tags = list(tags)
    if tags:
        now = time.time()
        broker.client().zadd(UNACKED_INDEX, {tag: now for tag in tags}, xx=True)


class Housekeeper(threading.Thread):
    """Runs the chores every `interval` seconds until stopped; a failing chore is logged and tried again."""

    def __init__(self, *, in_flight: set[str] | None = None, interval: float = 0.5) -> None:
        super().__init__(name="ec-housekeeping", daemon=True)
        self.in_flight = in_flight
        self.interval = interval
        self.stopping = threading.Event()
        self._last_lease = 0.0

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        try:
            release_due_retries()
            if self.in_flight is not None and time.monotonic() - self._last_lease > 5:
                renew_leases(set(self.in_flight))
                self._last_lease = time.monotonic()
        except redis.RedisError as exc:
            log.warning("housekeeping: redis unavailable (%s)", exc)
        try:
            while flush_lineage() >= LINEAGE_BATCH:
                pass
        except DatabaseError as exc:
            # PostgreSQL is down: the records wait in Redis and are written when it is back.
            log.warning("lineage: database unavailable (%s); will retry", exc)
            close_old_connections()
        except redis.RedisError as exc:
            log.warning("lineage: redis unavailable (%s)", exc)

    def stop(self) -> None:
        self.stopping.set()
