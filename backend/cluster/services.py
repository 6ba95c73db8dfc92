"""Writes of placement asked for by people: a live move of a replica to another node."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Sum

from backend.cluster import placement
from backend.cluster.models import Deployment, Health, Node
from backend.cluster.status import refresh_status
from backend.errors import ApplicationError, Conflict
from flows.models import Processor
from flows.models.processor import RequestedStatus
from flows.permissions import require_processor_perm


@transaction.atomic
def processor_move(*, user: Any, processor: Processor, node: str, replica: int | None = None) -> Processor:
    """Move one replica (1-based; the only one by default) to `node` with no message lost: a new deployment is
    placed there, and the old one's worker stops warmly once the new one runs (the agents do both). Errors: 400
    for what the caller can fix in the request (an unknown node, a pin elsewhere), 409 for the processor's or the
    node's state (not running, already moving, no free slots)."""
    for codename in ("start_processor", "stop_processor"):
        require_processor_perm(user, codename, processor)
    processor = Processor.objects.select_for_update().get(pk=processor.pk)
    if processor.requested_status == RequestedStatus.STOPPED:
        raise Conflict(f"{processor.name} is stopped: start it, or change its node, instead of moving it.")
    target = Node.objects.filter(name=node).first()
    if target is None:
        names = ", ".join(Node.objects.values_list("name", flat=True)[:20]) or "none"
        raise ApplicationError(f"no node named {node!r} (nodes: {names})", {"fields": {"node": ["unknown node"]}})
    if processor.node and processor.node not in (target.name, target.hostname):
        raise ApplicationError(
            f"{processor.name} is pinned to node {processor.node}: change its node instead of moving it",
            {"fields": {"node": ["the processor is pinned elsewhere"]}},
        )
    usable, why = placement.allowed(processor, [target])
    if not usable:
        raise ApplicationError(f"{processor.name} may not run on {node}: {why}", {"fields": {"node": [why]}})
    if target.status != Health.ONLINE or target not in placement.live_nodes():
        raise Conflict(f"node {node} is {target.status}: a replica can only move to a node that is online")
    active = list(
        Deployment.objects.select_for_update().filter(processor=processor, replaced_by__isnull=True).order_by("replica")
    )
    if replica is None and len(active) > 1:
        raise ApplicationError(
            f"{processor.name} has {len(active)} replicas: say which to move (replica 1 to {len(active)})",
            {"fields": {"replica": ["required with several replicas"]}},
        )
    chosen = next((d for d in active if replica is None or d.replica == replica - 1), None)
    if chosen is None:
        raise Conflict(f"{processor.name} has no replica {replica or 1} placed yet: wait until it runs, then move it.")
    if chosen.node_id == target.pk:
        raise ApplicationError(f"replica {chosen.replica + 1} of {processor.name} already runs on {node}")
    if Deployment.objects.filter(replaced_by=chosen).exists():  # it is the new half of a move not done yet
        raise Conflict(f"replica {chosen.replica + 1} of {processor.name} is being moved already")
    used = Deployment.objects.filter(node=target).aggregate(total=Sum("cpus"))["total"] or 0
    if not target.oversubscribe and target.cpus - used < processor.concurrency:
        raise Conflict(
            f"node {node} has {max(target.cpus - used, 0)} free CPU slot(s); the replica needs "
            f"{processor.concurrency} (its concurrency)"
        )
    moved = Deployment.objects.create(
        processor=processor,
        replica=chosen.replica,
        node=target,
        cpus=processor.concurrency,
        status="starting",
        status_message=f"moving here from {chosen.node.name}",
    )
    chosen.replaced_by = moved
    chosen.save(update_fields=["replaced_by"])
    return refresh_status(processor)
