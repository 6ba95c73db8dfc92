"""Writes of placement asked for by people: a live move of a replica to another node, and a rebalance."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Sum

from backend.cluster import placement
from backend.cluster.models import Deployment, Health, Node
from backend.cluster.status import refresh_status
from backend.errors import ApplicationError, Conflict, Forbidden
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
    placement.start_move(processor, chosen, target)
    return refresh_status(processor)


@transaction.atomic
def cluster_rebalance(*, user: Any) -> list[str]:
    """Spread what failover or a late-joining node left crowded, as asked (placement never moves a running replica
    by itself): a replica sharing its node with another replica of its processor moves, live, to an allowed online
    node that has none of them and the free CPU slots. Returns the moves made ("relay#2: n2 → n3")."""
    if not (user.is_superuser or user.has_perm("cluster.change_node")):
        raise Forbidden("You may not rebalance the cluster: ask an administrator for UPDATE_NODE.")
    nodes = placement.live_nodes()
    used: dict[Any, int] = {n.pk: 0 for n in nodes}
    for node_id, cpus in Deployment.objects.values_list("node_id", "cpus"):
        if node_id in used:
            used[node_id] += cpus
    moves: list[str] = []
    moving = set(Deployment.objects.filter(replaced_by__isnull=False).values_list("processor_id", flat=True))
    active = (
        Deployment.objects.select_for_update()
        .filter(replaced_by__isnull=True, processor__requested_status=RequestedStatus.RUNNING, status="running")
        .exclude(processor_id__in=moving)
        .select_related("processor", "node")
        .order_by("processor__name", "replica")
    )
    by_processor: dict[Any, list[Deployment]] = {}
    for deployment in active:
        by_processor.setdefault(deployment.processor_id, []).append(deployment)
    for replicas in by_processor.values():
        processor = replicas[0].processor
        usable, _ = placement.allowed(processor, nodes)
        here = {d.node_id for d in replicas}
        per_node: dict[Any, list[Deployment]] = {}
        for deployment in replicas:
            per_node.setdefault(deployment.node_id, []).append(deployment)
        # On each crowded node, all but its first replica are candidates to move, the highest first.
        extra = sorted((d for group in per_node.values() for d in group[1:]), key=lambda d: -d.replica)
        for deployment in extra:
            free = [
                n for n in usable if n.pk not in here and (n.oversubscribe or n.cpus - used[n.pk] >= deployment.cpus)
            ]
            if not free:
                break
            target = max(free, key=lambda n: (n.cpus - used[n.pk], [-ord(c) for c in n.name]))
            placement.start_move(processor, deployment, target)
            used[target.pk] += deployment.cpus
            here.add(target.pk)
            moves.append(f"{processor.name}#{deployment.replica + 1}: {deployment.node.name} → {target.name}")
        if moves:
            refresh_status(processor)
    return moves
