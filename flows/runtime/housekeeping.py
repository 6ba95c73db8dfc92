"""Background chores of a worker (and the agent): lineage to PostgreSQL, due retries back to their queues, late
arrivals for deleted sockets into their archive; where lineage runs, also the metrics history (per-minute rollups
into PostgreSQL and their retention, backend/metrics/rollups.py). A dead worker's messages are not a chore here:
the broker gives them back (flows/runtime/visibility.py).

Each chore is safe to run from several processes at once: lineage and retries are taken under a short Redis lock.
No record stops a chore: text PostgreSQL cannot hold is stored
escaped (backend/db/safe.py), and a record that still cannot be written, or read, is moved to a quarantine list
(keys.LINEAGE_QUARANTINE, keys.DELAYED_QUARANTINE) with a warning in the log, so the others go on being written.
A chore that fails for any other reason is logged and runs again at the next tick; the thread never dies of it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import redis
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection, transaction

from backend.db.safe import storable_text
from backend.metrics import live, rollups
from flows.models import Call, Flow, Socket
from flows.runtime import archive, broker, keys

log = logging.getLogger(__name__)
LINEAGE_BATCH = 2000
# Characters kept of each text column of a call (stdout and stderr are already cut at ELASTICCODE_CAPTURE_BYTES).
TEXT_LIMIT = 256 * 1024
QUARANTINE_KEEP = 10_000
# Metrics history: minutes are rolled up this often (they are due GRACE_SECONDS after their end anyway), and old
# ones pruned this often per process.
ROLLUP_EVERY = 10.0
# Messages that reach a socket after its delete are archived within this many seconds (flows/runtime/archive.py).
SWEEP_EVERY = 5.0
PRUNE_EVERY = 600.0

_TRIM_IF_LOCKED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[2], ARGV[2], -1)
return 1
"""
# Lineage is staged in a table of the session (kept by the pooled connection, emptied at each commit), in the column
# order of _rows: epoch seconds and uuid strings as they come from the records; the INSERT converts them.
_STAGING_TABLE = "ec_lineage_staging"
_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING_TABLE} (id uuid, trace_id uuid, parent_id uuid, flow_id uuid, "
    "socket_id uuid, socket_name text, status text, received_at float8, started_at float8, finished_at float8, "
    "duration_ms float8, error text, traceback text, stdout text, stderr text, worker text, attempt int, "
    "input text, output text, args text) "
    "ON COMMIT DELETE ROWS"
)
# An empty CSV field is NULL to COPY; these columns take '' instead.
_TEXT_COLUMNS = "socket_name, status, error, traceback, stdout, stderr, worker, input, output, args"
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
    "input",
    "output",
    "args",
]


def _rows(records: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Lineage records → rows in the column order of _upsert; a deleted flow or socket becomes NULL."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[record["id"]] = record  # later records of a call (a retry that then succeeded) win
    socket_ids = {r["socket_id"] for r in latest.values() if r.get("socket_id")}
    flow_ids = {r["flow_id"] for r in latest.values() if r.get("flow_id")}
    live_sockets = {str(pk) for pk in Socket.objects.filter(pk__in=socket_ids).values_list("pk", flat=True)}
    live_flows = {str(pk) for pk in Flow.objects.filter(pk__in=flow_ids).values_list("pk", flat=True)}
    return [
        (
            r["id"],
            r["trace_id"],
            r.get("parent_id") or None,
            r["flow_id"] if r.get("flow_id") in live_flows else None,
            r["socket_id"] if r.get("socket_id") in live_sockets else None,
            storable_text(r.get("socket_name") or "", 200),
            r["status"],
            r.get("received_at") or None,
            r.get("started_at") or None,
            r.get("finished_at") or None,
            r.get("duration_ms"),
            # What user code printed or raised, whatever bytes it holds (NUL, lone surrogates): escaped, not refused.
            storable_text(r.get("error") or "", TEXT_LIMIT),
            storable_text(r.get("traceback") or "", TEXT_LIMIT),
            storable_text(r.get("stdout") or "", TEXT_LIMIT),
            storable_text(r.get("stderr") or "", TEXT_LIMIT),
            storable_text(r.get("worker") or "", 200),
            int(r.get("attempt") or 1),
            storable_text(r.get("input") or "", TEXT_LIMIT),
            storable_text(r.get("output") or "", TEXT_LIMIT),
            storable_text(r.get("args") or "", TEXT_LIMIT),
        )
        for r in latest.values()
    ]


def _upsert(rows: list[tuple[Any, ...]]) -> None:
    """COPY the rows into a session-local staging table, then one INSERT … SELECT … ON CONFLICT into Call.

    Lineage is written for every message, so its cost shows in the flows' throughput (lineage on/off, target
    ≥ 0.95). A multi-row VALUES statement made PostgreSQL parse and plan 34,000 parameters per 2,000 rows; COPY
    streams them: 2.3 times less time per batch on the reference machine (125 → 55 ms per 2,000 rows), and the
    ORM is not involved at all (bulk_create spent more CPU building model instances than PostgreSQL spent storing
    them). Text arrives here already storable (no NUL: backend/db/safe.py), which COPY's CSV needs too."""
    table = connection.ops.quote_name(Call._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in ["id", *_CALL_FIELDS])
    updates = ", ".join(
        f"{connection.ops.quote_name(c)} = EXCLUDED.{connection.ops.quote_name(c)}" for c in _CALL_FIELDS
    )
    data = io.StringIO()
    csv.writer(data).writerows(["" if value is None else value for value in row] for row in rows)
    data.seek(0)
    # The raw cursor raises psycopg2's errors: wrapped, they are Django's DatabaseError, which tick() retries on.
    with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        raw.execute(_STAGING)
        raw.execute(f"TRUNCATE {_STAGING_TABLE}")  # emptied at commit; this covers a flush inside a transaction
        raw.copy_expert(f"COPY {_STAGING_TABLE} FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL ({_TEXT_COLUMNS}))", data)
        raw.execute(
            f"INSERT INTO {table} ({columns}) SELECT id, trace_id, parent_id, flow_id, socket_id, socket_name, "
            "status, to_timestamp(received_at), to_timestamp(started_at), to_timestamp(finished_at), duration_ms, "
            f"error, traceback, stdout, stderr, worker, attempt, input, output, args FROM {_STAGING_TABLE} "
            f"ON CONFLICT (id) DO UPDATE SET {updates}"
        )


def _locked(name: str, seconds: int, fn: Callable[[str], int]) -> int:
    """Run fn(token) if the lock is free. Short locks, so a process killed while holding one (SIGKILL, a node
    lost) blocks the chore for seconds, not minutes; fn uses the token to check it still holds the lock before
    anything that must not happen twice."""
    client = broker.client()
    token = uuid.uuid4().hex
    if not client.set(name, token, nx=True, ex=seconds):
        return 0
    try:
        return fn(token)
    finally:
        # Release only our own lock (it may have expired and been taken by someone else meanwhile).
        client.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end", 1, name, token
        )


def _quarantine(key: str, entries: list[Any], what: str) -> None:
    """Keep records no chore can handle where a person can look at them (the newest QUARANTINE_KEEP)."""
    if not entries:
        return
    pipe = broker.client().pipeline(transaction=True)
    pipe.rpush(key, *entries)
    pipe.ltrim(key, -QUARANTINE_KEEP, -1)
    pipe.execute()
    log.warning("%s: %d record(s) that cannot be handled were moved to %s", what, len(entries), key)


def _write_lineage(records: list[dict[str, Any]]) -> list[str]:
    """Write the records; when the batch is refused, write them one by one. The records PostgreSQL still refuses
    (a bad id or time, a number out of range) come back as JSON with the reason, for the quarantine. A database
    that is down (OperationalError, InterfaceError) is raised: then every record waits and is tried again."""
    try:
        _upsert(_rows(records))
        return []
    except (OperationalError, InterfaceError):
        raise
    except (DatabaseError, ValueError, TypeError, KeyError):
        close_old_connections()
    refused = []
    for record in records:
        try:
            _upsert(_rows([record]))
        except (OperationalError, InterfaceError):
            raise
        except (DatabaseError, ValueError, TypeError, KeyError) as exc:
            close_old_connections()
            refused.append(json.dumps({"record": record, "reason": storable_text(exc, 1000)}, default=str))
    return refused


def flush_lineage(batch: int = LINEAGE_BATCH) -> int:
    """Move up to `batch` lineage records from Redis into Call rows; they leave Redis only once written (or, if
    they cannot be, moved to the lineage quarantine)."""

    lock = f"{keys.LINEAGE}:lock"

    def flush(token: str) -> int:
        client = broker.client()
        raw = client.lrange(keys.LINEAGE, 0, batch - 1)
        if not raw:
            return 0
        records, unreadable = [], []
        for item in raw:
            try:
                record = json.loads(item)
                if not isinstance(record, dict) or not record.get("id") or not record.get("trace_id"):
                    raise ValueError("not a lineage record")
                records.append(record)
            except ValueError:
                unreadable.append(item)
        refused = _write_lineage(records)
        _quarantine(keys.LINEAGE_QUARANTINE, unreadable + refused, "lineage")
        # Trimmed only while the lock is still ours: if a slow write outlived it, another flusher has read (and
        # will trim) the same records, and trimming them twice would drop records nobody wrote. Writing twice is
        # harmless (an upsert).
        client.eval(_TRIM_IF_LOCKED, 2, lock, keys.LINEAGE, token, len(raw))
        return len(raw)

    return _locked(lock, 15, flush)


def release_due_retries(limit: int = 500) -> int:
    """Publish retries whose backoff has passed. Published before removal: a crash in between republishes an id
    the receiving socket may already have completed, which it then drops."""

    def release(_token: str) -> int:
        client = broker.client()
        due = client.zrangebyscore(keys.DELAYED, "-inf", time.time(), start=0, num=limit)
        if not due:
            return 0
        entries, unreadable = [], []
        for item in due:
            try:
                entry = json.loads(item)  # type: ignore[arg-type]
                entries.append((str(entry["queue_id"]), entry["envelope"]))
            except (ValueError, TypeError, KeyError):
                unreadable.append(item)
        broker.publish(entries)
        _quarantine(keys.DELAYED_QUARANTINE, unreadable, "retries")
        client.zrem(keys.DELAYED, *due)
        return len(due)

    return _locked(f"{keys.DELAYED}:lock", 10, release)


class Housekeeper(threading.Thread):
    """Runs the chores every `interval` seconds until stopped; a failing chore is logged and tried again."""

    def __init__(self, *, interval: float = 0.5, lineage: bool = True) -> None:
        super().__init__(name="ec-housekeeping", daemon=True)
        self.interval = interval
        # Workers leave lineage to the node's agent (and `manage.py housekeeping`): writing Call rows would take
        # the worker's GIL away from the message path.
        self.lineage = lineage
        self.stopping = threading.Event()
        self._last_sweep = 0.0
        self._last_rollup = -math.inf
        self._last_prune = -math.inf

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.tick()
            except Exception:  # the chores guard themselves; this keeps the thread whatever slips through
                log.exception("housekeeping tick failed; the next one runs as usual")

    def tick(self) -> None:
        def lineage() -> int:
            written = 0
            while (count := flush_lineage()) >= LINEAGE_BATCH:
                written += count
            return written + count

        def late_arrivals() -> int:
            if time.monotonic() - self._last_sweep < SWEEP_EVERY:
                return 0
            self._last_sweep = time.monotonic()
            return archive.sweep()

        chores: list[tuple[str, Callable[[], int]]] = [
            ("retries", release_due_retries),
            ("archive of deleted sockets", late_arrivals),
        ]
        if self.lineage:
            chores.append(("lineage", lineage))
        for name, chore in chores:
            _guarded(name, chore)
        if self.lineage:
            self._metrics_history()

    def _metrics_history(self) -> None:
        # Due times move on before the chore runs, so a failing one is tried again at its next turn, not every tick.
        chores: list[tuple[str, Callable[[], int]]] = []
        if time.monotonic() - self._last_rollup >= ROLLUP_EVERY:
            self._last_rollup = time.monotonic()
            chores.append(("rollup", rollups.rollup_minutes))
        if time.monotonic() - self._last_prune >= PRUNE_EVERY:
            self._last_prune = time.monotonic()
            chores.append(("prune", rollups.prune_history))
            chores.append(("forget old workers", live.forget_old_workers))
            chores.append(("prune scale decisions", _prune_scale_events))
        for name, chore in chores:
            # The minutes wait in Redis (rollups.PENDING) and are written when PostgreSQL is back.
            _guarded(f"metrics {name}", chore)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the chore in progress, so that no lock is left held by a process about to exit."""
        self.stopping.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout)


def _guarded(name: str, chore: Callable[[], int]) -> None:
    """Run a chore; whatever it raises is logged, and it runs again at its next turn."""
    try:
        chore()
    except DatabaseError as exc:
        # PostgreSQL is down: what the chore writes waits in Redis until it is back.
        log.warning("%s: database unavailable (%s); will retry", name, exc)
        close_old_connections()
    except redis.RedisError as exc:
        log.warning("%s: redis unavailable (%s); will retry", name, exc)
    except Exception:
        log.exception("%s failed; it runs again at its next turn", name)
        close_old_connections()


def _prune_scale_events() -> int:
    from backend.cluster import autoscale  # the cluster app imports this module: imported when needed

    return autoscale.prune()
