"""Placement: which node runs a processor. Kept apart from the agent so a smarter strategy (multi-node, failover,
autoscaling) can replace it without touching reconciliation.

Strategy today: among nodes whose agent heartbeat is fresh, the one with the most free CPUs (cpus minus the CPUs
of processors already deployed there); ties by name. A node may be oversubscribed rather than leave a processor
unplaced: with one node under `make run`, every processor still runs.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from backend.cluster.models import Deployment, Health, Node
from flows.models import Processor

HEARTBEAT_FRESH = timedelta(seconds=30)


def live_nodes() -> list[Node]:
    since = timezone.now() - HEARTBEAT_FRESH
    return list(
        Node.objects.filter(status=Health.ONLINE, last_heartbeat__gte=since, agents__last_heartbeat__gte=since)
        .distinct()
        .annotate(used=Sum("deployments__cpus"))
        .order_by("name")
    )


@transaction.atomic
def place(processor: Processor) -> Deployment | None:
    """The processor's deployment, creating it on the freest live node; None when no node is alive."""
    existing = Deployment.objects.filter(processor=processor).select_related("node").first()
    if existing is not None:
        return existing
    nodes = live_nodes()
    if not nodes:
        return None
    best = max(nodes, key=lambda n: (n.cpus - (getattr(n, "used", 0) or 0), [-ord(c) for c in n.name]))
    deployment, _ = Deployment.objects.get_or_create(
        processor=processor, defaults={"node": best, "cpus": processor.concurrency}
    )
    return deployment
