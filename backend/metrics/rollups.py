"""Per-minute metrics from Redis into PostgreSQL (SocketMinute), and old history out of it.

Workers add into the hash keys.metric_minute(minute) once a second and ZADD the minute to keys.METRIC_MINUTES.
The housekeeper of the agent and of `manage.py housekeeping` (flows/runtime/housekeeping.py) calls `rollup_minutes`
every ROLLUP_EVERY (10) seconds and `prune_history` every PRUNE_EVERY (10) minutes.

How a minute moves, so that no count is lost or counted twice:

1. Under a short Redis lock, one script RENAMEs each due minute hash to `<hash>:rolling:<token>`, lists that key in
   PENDING and removes the minute from METRIC_MINUTES. From then on the rolling key never changes: a worker that
   flushes late into the same minute creates a new hash and adds the minute again, and the next rollup adds it to
   the rows already written. (The alternative used by lineage, read and then delete only if the lock is still
   ours, would drop a late flush that lands between the read and the delete.)
2. In one PostgreSQL transaction: a RollupBatch marker per rolling key (ON CONFLICT DO NOTHING), then one
   multi-row INSERT … ON CONFLICT DO UPDATE that adds the rows of the keys whose marker is new. The markers make
   the additive write exactly once: a rollup that crashed after its commit, or a second rollup that read the
   same keys after the lock expired, finds the markers and writes nothing.
3. Only after the commit are the rolling keys deleted. PostgreSQL down: they stay listed in PENDING (with the
   TTL of the minute hash) and are written by a later rollup.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from psycopg2.extras import execute_values

from backend.metrics import histogram
from backend.metrics.models import RollupBatch, SocketMinute
from flows.models import Socket

# housekeeping imports this module too: referenced as a module (not `from … import _locked`) so that either can
# be imported first.
from flows.runtime import broker, housekeeping, keys

log = logging.getLogger(__name__)

# A worker flushes its last second into a minute within a few seconds of its end; two minutes is ample.
GRACE_SECONDS = 120
# Minute hashes per rollup: a backlog (PostgreSQL down for hours) drains in bounded INSERTs.
MINUTES_PER_ROLLUP = 30
PRUNE_BATCH = 10_000
LOCK = f"{keys.METRIC_MINUTES}:lock"
# Rolling keys taken out of their minute but not yet written (member: key, score: minute).
PENDING = f"{keys.METRIC_MINUTES}:rolling"
# Longer than any rolling key can live (it keeps the TTL of its minute hash).
BATCH_RETENTION = dt.timedelta(seconds=keys.METRIC_MINUTE_TTL + 24 * 3600)

_ADDITIVE_INT = {
    "in": "msgs_in",
    "out": "msgs_out",
    "errors": "errors",
    "bytes_in": "bytes_in",
    "bytes_out": "bytes_out",
}
_ADDITIVE_FLOAT = {"time_ms": "time_ms", "held_ms": "held_ms"}

# KEYS: lock, METRIC_MINUTES, PENDING, then (minute hash, rolling key) per minute.
# ARGV: token, then (METRIC_MINUTES member, minute) per minute.
_TAKE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local taken = 0
for i = 1, (#ARGV - 1) / 2 do
  local source, rolling = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  if redis.call('EXISTS', source) == 1 then
    redis.call('RENAME', source, rolling)
    redis.call('ZADD', KEYS[3], ARGV[1 + 2 * i], rolling)
    taken = taken + 1
  end
  redis.call('ZREM', KEYS[2], ARGV[2 * i])
end
return taken
"""

_COLUMNS = [
    "minute", "flow_id", "processor_id", "socket_id", "msgs_in", "msgs_out", "errors", "bytes_in", "bytes_out",
    "time_ms", "time_max_ms", "held_ms", "hist", "depth_max",
]  # fmt: skip
_ROW = "(to_timestamp(%s), %s::uuid, %s::uuid, %s::uuid, %s, %s, %s, %s, %s, %s, %s, %s, %s::bigint[], %s)"
_UPSERT = """
INSERT INTO {table} AS t ({columns}) VALUES %s
ON CONFLICT (socket_id, minute) DO UPDATE SET
    msgs_in = t.msgs_in + EXCLUDED.msgs_in,
    msgs_out = t.msgs_out + EXCLUDED.msgs_out,
    errors = t.errors + EXCLUDED.errors,
    bytes_in = t.bytes_in + EXCLUDED.bytes_in,
    bytes_out = t.bytes_out + EXCLUDED.bytes_out,
    time_ms = t.time_ms + EXCLUDED.time_ms,
    held_ms = t.held_ms + EXCLUDED.held_ms,
    time_max_ms = GREATEST(t.time_max_ms, EXCLUDED.time_max_ms),
    depth_max = GREATEST(t.depth_max, EXCLUDED.depth_max),
    hist = ARRAY(
        SELECT coalesce(a, 0) + coalesce(b, 0)
        FROM unnest(t.hist, EXCLUDED.hist) WITH ORDINALITY AS u(a, b, i) ORDER BY i
    )
"""


@dataclass
class _Counts:
    """One socket's minute, merged over the hashes of one rollup."""

    ints: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_ADDITIVE_INT.values(), 0))
    floats: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_ADDITIVE_FLOAT.values(), 0.0))
    time_max: float = 0.0
    depth: int | None = None
    hist: list[int] = field(default_factory=histogram.empty)

    def add(self, metric: str, raw: bytes) -> None:
        if metric in _ADDITIVE_INT:
            self.ints[_ADDITIVE_INT[metric]] += _int(raw)
        elif metric in _ADDITIVE_FLOAT:
            self.floats[_ADDITIVE_FLOAT[metric]] += float(raw)
        elif metric == "time_max":
            self.time_max = max(self.time_max, float(raw))
        elif metric == "depth":
            self.depth = max(self.depth or 0, _int(raw))
        elif metric.startswith("h") and metric[1:].isdigit() and int(metric[1:]) < histogram.BUCKETS:
            self.hist[int(metric[1:])] += _int(raw)
        # Anything else is a metric this version does not store yet.


def _int(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        return round(float(raw))


def _socket_id(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _merge(hashes: Iterable[tuple[int, Mapping[bytes, bytes]]]) -> dict[tuple[str, int], _Counts]:
    """Minute hashes → counts per (socket id, minute)."""
    merged: dict[tuple[str, int], _Counts] = {}
    for minute, fields in hashes:
        for name, raw in fields.items():
            socket_text, _, metric = name.decode(errors="replace").partition("|")
            socket_id = _socket_id(socket_text)
            if socket_id is None or not metric:
                continue
            try:
                merged.setdefault((socket_id, minute), _Counts()).add(metric, raw)
            except ValueError:
                # Not a number (a damaged field): one skipped count, not a minute that never rolls up.
                log.warning("metrics rollup: %s of minute %d is not a number (%r); skipped", name, minute, raw[:40])
    return merged


def _rows(merged: dict[tuple[str, int], _Counts]) -> list[tuple[Any, ...]]:
    """Counts → rows in _COLUMNS order; sockets deleted since are dropped (one query)."""
    owners = {
        str(pk): (str(flow_id), str(processor_id))
        for pk, flow_id, processor_id in Socket.objects.filter(pk__in={s for s, _ in merged}).values_list(
            "pk", "flow_id", "processor_id"
        )
    }
    rows = []
    for (socket_id, minute), c in sorted(merged.items()):
        if socket_id not in owners:
            continue
        flow_id, processor_id = owners[socket_id]
        # c.ints is in _ADDITIVE_INT order, which is _COLUMNS order.
        ints, floats = c.ints.values(), c.floats
        rows.append(
            (
                minute,
                flow_id,
                processor_id,
                socket_id,
                *ints,
                floats["time_ms"],
                c.time_max,
                floats["held_ms"],
                c.hist,
                c.depth,
            )
        )
    return rows


def _write(pending: list[tuple[str, int]], hashes: list[dict[bytes, bytes]]) -> int:
    """Add the rows of the rolling keys not written before; return how many socket-minutes were written."""
    table = connection.ops.quote_name(SocketMinute._meta.db_table)
    batches = connection.ops.quote_name(RollupBatch._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        # Blocks on the markers of a concurrent rollup of the same keys until it commits or rolls back.
        cursor.execute(
            f"INSERT INTO {batches} (key, rolled_at) SELECT unnest(%s::text[]), now() "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            [[key for key, _ in pending]],
        )
        fresh = {row[0] for row in cursor.fetchall()}
        merged = _merge((minute, h) for (key, minute), h in zip(pending, hashes, strict=True) if key in fresh)
        rows = _rows(merged) if merged else []
        if rows:
            columns = ", ".join(connection.ops.quote_name(c) for c in _COLUMNS)
            # One statement (page_size: all rows): ON CONFLICT may touch each row once, and _merge made the rows
            # unique per (socket, minute). On the raw psycopg2 cursor, so its errors are wrapped into Django's
            # DatabaseError by hand, as the housekeeper expects.
            with connection.wrap_database_errors:
                execute_values(
                    cursor.cursor,
                    _UPSERT.format(table=table, columns=columns),
                    rows,
                    template=_ROW,
                    page_size=len(rows),
                )
    return len(rows)


def rollup_minutes(*, now: float | None = None) -> int:
    """Move the minute hashes that every worker has finished with (older than GRACE_SECONDS) into SocketMinute
    rows; return the number of socket-minutes written. 0 when another process holds the lock."""
    cutoff = int((time.time() if now is None else now) - GRACE_SECONDS)

    def roll(token: str) -> int:
        client = broker.client()
        members = client.zrangebyscore(
            keys.METRIC_MINUTES, "-inf", cutoff, start=0, num=MINUTES_PER_ROLLUP, withscores=True
        )
        due = [(member, int(score)) for member, score in cast("list[tuple[bytes, float]]", members)]
        if due:
            names = [key for _, m in due for key in (keys.metric_minute(m), f"{keys.metric_minute(m)}:rolling:{token}")]
            args = [arg for member, m in due for arg in (member, m)]
            taken = broker.script(_TAKE)(keys=[LOCK, keys.METRIC_MINUTES, PENDING, *names], args=[token, *args])
            if taken == -1:
                return 0  # the lock expired before we got here
        listed = client.zrange(PENDING, 0, MINUTES_PER_ROLLUP - 1, withscores=True)
        pending = [(key.decode(), int(score)) for key, score in cast("list[tuple[bytes, float]]", listed)]
        if not pending:
            return 0
        with client.pipeline(transaction=False) as pipe:
            for key, _ in pending:
                pipe.hgetall(key)
            hashes: list[dict[bytes, bytes]] = pipe.execute()
        written = _write(pending, hashes)
        names = [key for key, _ in pending]
        with client.pipeline() as pipe:
            pipe.delete(*names)
            pipe.zrem(PENDING, *names)
            pipe.execute()
        return written

    return housekeeping._locked(LOCK, 30, roll)


# Minute hashes the history reads from Redis at most (the newest): with the housekeeper running there are about
# three (GRACE_SECONDS and the minute being written); more means it is not, and the gap is the operator's to fix.
UNROLLED_MAX = 2 * MINUTES_PER_ROLLUP


@dataclass(frozen=True)
class Unrolled:
    """One socket-minute still in Redis, in _COLUMNS order after the minute (flow and processor are the socket's).
    `rolling` is the rolling key it was read from (its RollupBatch marker says whether it is written already), or
    None for a minute hash no rollup has taken, whose counts are in no SocketMinute row."""

    rolling: str | None
    minute: int
    socket_id: str
    ints: tuple[int, ...]  # msgs_in, msgs_out, errors, bytes_in, bytes_out
    time_ms: float
    time_max_ms: float
    held_ms: float
    hist: list[int]
    depth_max: int | None


# KEYS: METRIC_MINUTES, PENDING. ARGV: start, end - 1, UNROLLED_MAX, the minute hashes' key prefix.
# Returns {rolling key or "", minute, HGETALL} per hash, the newest UNROLLED_MAX of each set.
_UNROLLED = """
local out = {}
local live = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[3])
for i = 1, #live, 2 do
  out[#out + 1] = {'', live[i + 1], redis.call('HGETALL', ARGV[4] .. live[i + 1])}
end
local rolling = redis.call('ZREVRANGEBYSCORE', KEYS[2], ARGV[2], ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[3])
for i = 1, #rolling, 2 do
  out[#out + 1] = {rolling[i], rolling[i + 1], redis.call('HGETALL', rolling[i])}
end
return out
"""


def unrolled(*, start: int, end: int) -> list[Unrolled]:
    """The socket-minutes in [start, end) that are still in Redis: the minute hashes workers are writing or that
    wait for the rollup (up to GRACE_SECONDS and ROLLUP_EVERY behind), and the rolling keys taken but maybe not
    yet deleted. The history adds them to the SocketMinute rows (backend/metrics/selectors.py), so a chart or the
    flows list counts a message within a second, not two minutes later. Read by one script, so a rollup's RENAME
    falls wholly before or after the read."""
    prefix = keys.metric_minute(0).removesuffix("0")
    answer = broker.script(_UNROLLED)(keys=[keys.METRIC_MINUTES, PENDING], args=[start, end - 1, UNROLLED_MAX, prefix])
    found: list[Unrolled] = []
    for marker, minute_text, flat in cast("list[list[Any]]", answer):
        minute = int(float(minute_text))
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        for (socket_id, _), c in _merge([(minute, fields)]).items():
            found.append(
                Unrolled(
                    marker.decode() or None, minute, socket_id, tuple(c.ints.values()), c.floats["time_ms"],
                    c.time_max, c.floats["held_ms"], c.hist, c.depth,
                )
            )  # fmt: skip
    return found


def prune_history(*, now: float | None = None) -> int:
    """Delete the minutes older than ELASTICCODE_METRICS_RETENTION_DAYS, PRUNE_BATCH rows per statement (short
    transactions, no long lock on the table); return how many rows went."""
    moment = dt.datetime.fromtimestamp(time.time() if now is None else now, tz=dt.UTC)
    cutoff = moment - dt.timedelta(days=settings.ELASTICCODE_METRICS_RETENTION_DAYS)
    table = connection.ops.quote_name(SocketMinute._meta.db_table)
    deleted = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE minute < %s LIMIT %s)",
                [cutoff, PRUNE_BATCH],
            )
            batch = cursor.rowcount
        deleted += batch
        if batch < PRUNE_BATCH:
            break
    RollupBatch.objects.filter(rolled_at__lt=moment - BATCH_RETENTION).delete()
    return deleted
