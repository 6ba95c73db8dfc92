"""Reads of the metrics history: time series of a flow, a processor or a socket, of every flow a user may see, and
the sockets that fail most or run slowest.

Everything is summed in PostgreSQL (a bin is `step` seconds of SocketMinute rows, the histograms added bucket by
bucket); only the percentiles are computed here, from the summed histogram (backend.metrics.histogram).

The last minutes are not in SocketMinute yet: the rollup moves a minute from Redis GRACE_SECONDS (120) after its
end. So the minutes still in Redis (backend.metrics.rollups.unrolled) go into the same sums, inside one
REPEATABLE READ snapshot taken before Redis is read: a minute hash no rollup has taken is in no row; a rolling key
is counted only if its RollupBatch marker is not in the snapshot, that is if the rows it was written into (if any)
are not in the snapshot either. A message shows in the history within a second, once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from django.db import connection, transaction
from django.db.models import QuerySet

from backend.metrics import histogram, rollups
from backend.metrics.events import RankedSocket
from backend.metrics.models import RollupBatch, SocketMinute
from flows.models import Socket
from flows.permissions import flows_for, processors_for

if TYPE_CHECKING:
    from flows.permissions import AnyUser

Scope = Literal["flow", "processor", "socket"]
Ranking = Literal["errors", "p95"]

# One bin of a series. `in` is a Python keyword, hence the functional form (as backend.metrics.events).
Point = TypedDict(
    "Point",
    {
        "t": int,  # epoch seconds of the bin's start
        "in": int,
        "out": int,
        "errors": int,
        "bytes_in": int,
        "bytes_out": int,
        "time_ms": float,  # execution time, summed
        "time_avg_ms": float | None,  # per call; None without calls
        "time_max_ms": float | None,  # None without data
        "p50_ms": float | None,
        "p95_ms": float | None,
        "held_ms": float,
        "depth_max": int | None,  # None when no depth was sampled
    },
)


class FlowSeries(TypedDict):
    id: str
    name: str
    points: list[Point]


# Rows of SocketMinute in [start, end) whose `where` holds, summed per (group column, bin). The histogram is summed
# in its own aggregate: unnest each row's array with its bucket index, sum per (group, bin, index), re-assemble in
# index order. Parameters: those of {bin}, of {where}, then start and end.
_SERIES = """
WITH recent AS (
    SELECT * FROM unnest(
        %s::text[], %s::bigint[], %s::uuid[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
        %s::float8[], %s::float8[], %s::float8[], %s::text[], %s::bigint[]
    ) AS r(rolling, minute, socket_id, msgs_in, msgs_out, errors, bytes_in, bytes_out, time_ms, time_max_ms, held_ms,
           hist, depth_max)
), source AS (
    SELECT minute, flow_id, processor_id, socket_id,
           msgs_in, msgs_out, errors, bytes_in, bytes_out, time_ms, time_max_ms, held_ms, depth_max, hist
    FROM {table}
    UNION ALL
    SELECT to_timestamp(r.minute), s.flow_id, s.processor_id, r.socket_id, r.msgs_in, r.msgs_out, r.errors,
           r.bytes_in, r.bytes_out, r.time_ms, r.time_max_ms, r.held_ms, r.depth_max, r.hist::bigint[]
    FROM recent AS r JOIN {sockets} AS s ON s.id = r.socket_id
    WHERE r.rolling IS NULL OR NOT EXISTS (SELECT 1 FROM {batches} AS b WHERE b.key = r.rolling)
), rows AS (
    SELECT {group} AS grp, {bin} AS bin,
           msgs_in, msgs_out, errors, bytes_in, bytes_out, time_ms, time_max_ms, held_ms, depth_max, hist
    FROM source
    WHERE {where} AND minute >= to_timestamp(%s) AND minute < to_timestamp(%s)
), totals AS (
    SELECT grp, bin, sum(msgs_in) AS msgs_in, sum(msgs_out) AS msgs_out, sum(errors) AS errors,
           sum(bytes_in) AS bytes_in, sum(bytes_out) AS bytes_out, sum(time_ms) AS time_ms,
           max(time_max_ms) AS time_max_ms, sum(held_ms) AS held_ms, max(depth_max) AS depth_max
    FROM rows GROUP BY grp, bin
), hists AS (
    SELECT grp, bin, array_agg(total ORDER BY i) AS hist
    FROM (
        SELECT grp, bin, u.i, sum(u.v) AS total
        FROM rows, unnest(rows.hist) WITH ORDINALITY AS u(v, i)
        GROUP BY grp, bin, u.i
    ) AS buckets
    GROUP BY grp, bin
)
SELECT totals.grp, totals.bin, msgs_in, msgs_out, errors, bytes_in, bytes_out, time_ms, time_max_ms, held_ms,
       depth_max, hists.hist
FROM totals LEFT JOIN hists ON hists.grp = totals.grp AND hists.bin = totals.bin
"""


# Bins of `step` seconds counted from the epoch (the API aligns start and end to them).
_BIN = "extract(epoch FROM date_bin(make_interval(secs => %s), minute, to_timestamp(0)))::bigint"


def _aggregate(
    *, group: str, where: str, params: Sequence[Any], start: int, end: int, step: int | None
) -> dict[tuple[str, int], Point]:
    """{(group value, bin start): point} for the bins that have rows (one query). step None: the whole range is
    one bin, at start."""
    quote = connection.ops.quote_name
    bin_sql, bin_params = (_BIN, [step]) if step is not None else ("%s::bigint", [start])
    sql = _SERIES.format(
        group=group,
        bin=bin_sql,
        where=where,
        table=quote(SocketMinute._meta.db_table),
        sockets=quote(Socket._meta.db_table),
        batches=quote(RollupBatch._meta.db_table),
    )
    # Inside a caller's transaction (a test's) the snapshot is the caller's; otherwise one of our own, taken by the
    # first statement (before Redis is read), in one round trip with the SET.
    outermost = not connection.in_atomic_block
    with transaction.atomic() if outermost else contextlib.nullcontext(), connection.cursor() as cursor:
        if outermost:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1")
        recent = _columns(rollups.unrolled(start=start, end=end))
        cursor.execute(sql, [*recent, *bin_params, *params, start, end])
        rows = cursor.fetchall()
    return {(str(row[0]), int(row[1])): _point(row[1:]) for row in rows}


def _columns(found: list[rollups.Unrolled]) -> list[list[Any]]:
    """The socket-minutes still in Redis as one array per column of the `recent` CTE."""
    return [
        [u.rolling for u in found],
        [u.minute for u in found],
        [u.socket_id for u in found],
        *([u.ints[i] for u in found] for i in range(5)),
        [u.time_ms for u in found],
        [u.time_max_ms for u in found],
        [u.held_ms for u in found],
        ["{" + ",".join(map(str, u.hist)) + "}" for u in found],
        [u.depth_max for u in found],
    ]


def _point(row: Sequence[Any]) -> Point:
    t, msgs_in, msgs_out, errors, bytes_in, bytes_out, time_ms, time_max, held_ms, depth_max, hist = row
    hist = [int(count) for count in hist or histogram.empty()]
    calls = sum(hist)
    return {
        "t": int(t),
        "in": int(msgs_in),
        "out": int(msgs_out),
        "errors": int(errors),
        "bytes_in": int(bytes_in),
        "bytes_out": int(bytes_out),
        "time_ms": float(time_ms),
        "time_avg_ms": float(time_ms) / calls if calls else None,
        "time_max_ms": float(time_max) if time_max is not None else None,
        "p50_ms": histogram.percentile(hist, 0.5, time_max),
        "p95_ms": histogram.percentile(hist, 0.95, time_max),
        "held_ms": float(held_ms),
        "depth_max": int(depth_max) if depth_max is not None else None,
    }


def _empty(t: int) -> Point:
    return {
        "t": t, "in": 0, "out": 0, "errors": 0, "bytes_in": 0, "bytes_out": 0, "time_ms": 0.0, "time_avg_ms": None,
        "time_max_ms": None, "p50_ms": None, "p95_ms": None, "held_ms": 0.0, "depth_max": None,
    }  # fmt: skip


def _filled(found: dict[tuple[str, int], Point], key: str, start: int, end: int, step: int) -> list[Point]:
    return [found.get((key, t)) or _empty(t) for t in range(start, end, step)]


def _check_range(start: int, end: int, step: int) -> None:
    # The API validates and aligns the range; this guards other callers against a silently misaligned series.
    if step <= 0 or step % 60 or start % step or end % step or start >= end:
        raise ValueError(f"bad range: start={start} end={end} step={step} (aligned to step, a multiple of 60)")


def scope_series(*, kind: Scope, scope_id: Any, start: int, end: int, step: int) -> list[Point]:
    """The series of one flow, processor or socket over [start, end), one point per step (start and end are
    multiples of step, step of 60); bins without data are zeros (None for averages, percentiles and maxima).
    The caller has checked that the user may see the object."""
    _check_range(start, end, step)
    column = {"flow": "flow_id", "processor": "processor_id", "socket": "socket_id"}[kind]
    found = _aggregate(
        group=column, where=f"{column} = %s::uuid", params=[str(scope_id)], start=start, end=end, step=step
    )
    return _filled(found, str(scope_id), start, end, step)


def flows_series(*, user: AnyUser, start: int, end: int, step: int) -> list[FlowSeries]:
    """The series of every flow the user may see (by name), in two queries whatever the number of flows."""
    _check_range(start, end, step)
    flows = list(flows_for(user).order_by("name", "id").values_list("id", "name"))
    if not flows:
        return []
    found = _aggregate(
        group="flow_id",
        where="flow_id = ANY(%s::uuid[])",
        params=[[str(pk) for pk, _ in flows]],
        start=start,
        end=end,
        step=step,
    )
    return [{"id": str(pk), "name": name, "points": _filled(found, str(pk), start, end, step)} for pk, name in flows]


def visible_sockets(user: AnyUser) -> QuerySet[Socket]:
    """Sockets follow their processor (as GET /api/sockets/ does)."""
    if user.is_superuser or user.has_perm("flows.view_socket"):
        return Socket.objects.all()
    return Socket.objects.filter(processor__in=processors_for(user).values("pk"))


def top_sockets(*, user: AnyUser, start: int, end: int, by: Ranking = "errors", limit: int = 10) -> list[RankedSocket]:
    """The sockets the user may see with the most errors (only those with some) or the slowest p95 (only those
    that ran) over [start, end), highest first."""
    subquery, params = visible_sockets(user).values("pk").query.sql_with_params()
    found = _aggregate(
        group="socket_id", where=f"socket_id IN ({subquery})", params=params, start=start, end=end, step=None
    )
    values = (
        [(socket_id, float(point["errors"])) for (socket_id, _), point in found.items() if point["errors"] > 0]
        if by == "errors"
        else [(socket_id, p95) for (socket_id, _), point in found.items() if (p95 := point["p95_ms"]) is not None]
    )
    ranked = sorted(values, key=lambda item: (-item[1], item[0]))[:limit]
    found_sockets = Socket.objects.select_related("flow").in_bulk([socket_id for socket_id, _ in ranked])
    sockets = {str(pk): socket for pk, socket in found_sockets.items()}
    return [
        {
            "socket_id": socket_id,
            "socket": socket.name,
            "processor_id": str(socket.processor_id),
            "flow_id": str(socket.flow_id),
            "flow": socket.flow.name,
            "value": value,
        }
        for socket_id, value in ranked
        if (socket := sockets.get(socket_id)) is not None
    ]
