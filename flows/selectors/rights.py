"""What the caller may do with flows they can see, for clients that grey out what they may not do (the designer)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from flows.models import Flow
from flows.permissions import flows_for


class FlowRights(TypedDict):
    change: bool
    delete: bool
    reason: str


def _reason(flow: Flow, change: bool) -> str:
    if change:
        return ""
    return f"you may view this flow but not change it; ask its owner ({flow.owner.username}) for the change right"


def flow_rights_many(*, user: Any, flows: Iterable[Flow]) -> dict[Any, FlowRights]:
    """Rights on many flows in two queries, whatever their number."""
    flows = list(flows)
    ids = [flow.pk for flow in flows]
    changeable = set(flows_for(user, "change_flow").filter(pk__in=ids).values_list("pk", flat=True))
    deletable = set(flows_for(user, "delete_flow").filter(pk__in=ids).values_list("pk", flat=True))
    return {
        flow.pk: FlowRights(
            change=flow.pk in changeable, delete=flow.pk in deletable, reason=_reason(flow, flow.pk in changeable)
        )
        for flow in flows
    }


def flow_rights(*, user: Any, flow: Flow) -> FlowRights:
    return flow_rights_many(user=user, flows=[flow])[flow.pk]
