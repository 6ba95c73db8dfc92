"""Import of an exported flow document (flows/selectors/graph.py: flow_export) as a new flow."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from flows.models import Flow
from flows.services.flows import flow_create
from flows.services.graph import flow_graph_replace


@transaction.atomic
def flow_import(*, user: Any, doc: dict[str, Any], name: str | None = None) -> Flow:
    """Create a flow owned by `user` from a validated export document; all of it or nothing."""
    flow = flow_create(
        user=user, name=name or doc["name"], description=doc.get("description", ""), layout=doc.get("layout") or {}
    )
    graph = {"version": flow.version, "layout": flow.layout, "processors": doc["processors"], "plugs": doc["plugs"]}
    return flow_graph_replace(user=user, flow=flow, doc=graph)
