"""Lineage reads: a trace as a tree of calls."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

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
