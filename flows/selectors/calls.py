"""Lineage reads: a trace as a tree of calls, and a flow's latest runs."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet

from flows.models import Call

_FIELDS = (
    "id",
    "trace_id",
    "parent_id",
    "socket_id",
    "socket_name",
    "status",
    "received_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "error",
    "traceback",
    "worker",
    "attempt",
    "input",
    "args",
    "output",
)


def call_tree(*, call: Call, visible: QuerySet[Call]) -> dict[str, Any]:
    """The whole trace `call` belongs to, root first, children nested and ordered by start time. Calls the caller
    may not see are left out; their visible descendants hang from the nearest visible ancestor."""
    rows = list(visible.filter(trace_id=call.trace_id).order_by("started_at", "id").values(*_FIELDS))
    nodes: dict[str, dict[str, Any]] = {}
    for row in rows:
        node = {**row, "id": str(row["id"]), "trace_id": str(row["trace_id"]), "children": []}
        node["parent_id"] = str(row["parent_id"]) if row["parent_id"] else None
        node["socket"] = str(row.pop("socket_id")) if row.get("socket_id") else None
        node.pop("socket_id", None)
        nodes[node["id"]] = node
    roots: list[dict[str, Any]] = []
    for node in nodes.values():
        parent = nodes.get(node["parent_id"] or "")
        (parent["children"] if parent else roots).append(node)
    return {"trace_id": str(call.trace_id), "calls": len(nodes), "roots": roots}


RUN_STATUSES = ("succeeded", "handled", "failed", "running")
# A run failed when a message of it was dead-lettered. An error an error plug took is handled (the call is
# "failed", and its error went on as a message): found by a designer, who read a handled error as a failed run;
# the next one read it, listed as succeeded, as a success. So it is neither: `handled`.
# A call from inside a function that failed is `raised` in its caller: handled once the caller went on (caught it
# and finished, or a map run took it as a failed parcel's receipt); not while the caller failed with it too (dead,
# or raised further up) or has not finished. The designer reads it by the same rule (frontend runs.ts, wentOn).
_FAILED = ("dead",)
_HANDLED = ("failed",)
_OPEN = ("received", "running", "retrying")
_NOT_GONE_ON = ("dead", "raised", *_OPEN)


def flow_runs(*, flow_id: Any, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The flow's latest runs (traces), newest first, from lineage: one per message sent into the flow (a root call),
    with its entry socket, the message sent in (its kept preview), start, end (the last of its calls to finish),
    duration in ms (from when the message was sent in), number of calls, of dead-lettered ones and of failed calls
    whose error an error plug took, and a status: `failed` if any message of it was dead-lettered, `running` while
    any call is still in progress (a retry waiting included), `handled` if a call failed and an error plug took its
    error (or a function caught the failure of a call it made), else `succeeded`. `status` keeps only runs with that
    status. Lineage is written about a second after each call, so a run shows a moment after it starts. Two queries:
    the latest roots (at most 4 times `limit` of them are looked at when filtering by status), then their traces'
    calls counted in one GROUP BY."""
    scan = limit * 4 if status else limit
    roots = list(
        Call.objects.filter(flow_id=flow_id, parent_id__isnull=True)
        .order_by("-started_at", "id")
        .values("id", "trace_id", "socket_id", "socket_name", "started_at", "received_at", "input")[:scan]
    )
    totals: dict[Any, dict[str, Any]] = {
        row["trace_id"]: dict(row)
        for row in Call.objects.filter(trace_id__in=[r["trace_id"] for r in roots])
        .values("trace_id")
        .annotate(
            calls=Count("id"),
            failed=Count("id", filter=Q(status__in=_FAILED)),
            handled=Count(
                "id",
                filter=Q(status__in=_HANDLED)
                | Q(
                    Q(status="raised"),
                    Exists(Call.objects.filter(pk=OuterRef("parent_id")).exclude(status__in=_NOT_GONE_ON)),
                ),
            ),
            open=Count("id", filter=Q(status__in=_OPEN)),
            finished=Max("finished_at"),
        )
    }
    runs = []
    for root in roots:
        total: dict[str, Any] = totals.get(root["trace_id"]) or {
            "calls": 1, "failed": 0, "handled": 0, "open": 1, "finished": None,
        }  # fmt: skip
        state = (
            "failed"
            if total["failed"]
            else "running"
            if total["open"]
            else "handled"
            if total["handled"]
            else "succeeded"
        )
        if status and state != status:
            continue
        # From when the message was sent in (a retried root's started_at is its last attempt's).
        started, finished = root["received_at"] or root["started_at"], total["finished"]
        runs.append(
            {
                "trace_id": str(root["trace_id"]),
                "root_id": str(root["id"]),
                "socket": str(root["socket_id"]) if root["socket_id"] else None,
                "socket_name": root["socket_name"],
                "status": state,
                "started_at": started,
                "finished_at": finished,
                "duration_ms": (finished - started).total_seconds() * 1000 if started and finished else None,
                "calls": total["calls"],
                "failed_calls": total["failed"],
                "handled_calls": total["handled"],
                # The message sent in, as kept with lineage (cut at the preview size: then it ends with "…").
                "input": root["input"],
            }
        )
        if len(runs) == limit:
            break
    return runs
