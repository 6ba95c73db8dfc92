"""A processor's status from its replicas': each agent writes its replica's status on the Deployment, and the
processor's `status` and `status_message` (what the API, the designer and the CLI show) are worked out from all of
them here, under the processor's row lock so that two agents reporting at once cannot interleave."""

from __future__ import annotations

import logging

from django.db import transaction

from backend.cluster.models import Deployment
from backend.db.safe import storable_text
from backend.metrics.reporting import status_changed
from flows.models import Processor
from flows.models.processor import RequestedStatus, Status

log = logging.getLogger("elasticcode.placement")

WAITING = "waiting for a node"
STOPPED_MESSAGE = "stopped: messages wait in the queue until it starts"


def summary(processor: Processor, deployments: list[Deployment], waiting: str = "") -> tuple[str, str]:
    """(status, message) of a processor whose replicas are `deployments`; `waiting`: why a replica is unplaced."""
    active = [d for d in deployments if d.replaced_by_id is None]
    if processor.requested_status == RequestedStatus.STOPPED and all(d.status == Status.STOPPED for d in deployments):
        return Status.STOPPED, next((d.status_message for d in deployments if d.status_message), STOPPED_MESSAGE)
    if not active:
        if processor.requested_status == RequestedStatus.STOPPED:
            return Status.STOPPED, STOPPED_MESSAGE
        return Status.STARTING, f"{WAITING}: {waiting}" if waiting else f"{WAITING}: placing it"
    wanted = processor.replicas_wanted
    short = wanted - len(active)
    if len(deployments) == 1 and not short:
        return deployments[0].status, deployments[0].status_message
    running = [d for d in active if d.status == Status.RUNNING]
    where = ", ".join(d.node.name for d in running)
    unplaced = (
        f"; {short} replica{'s' if short != 1 else ''} {WAITING}" + (f": {waiting}" if waiting else "") if short else ""
    )
    if running:
        message = f"{len(running)} of {wanted} replicas running ({where})"
        others = [f"{d.node.name}: {d.status_message or d.status}" for d in active if d.status != Status.RUNNING]
        return Status.RUNNING, message + "".join(f"; {o}" for o in others) + unplaced
    for status in (Status.PAUSED, Status.STARTING, Status.ERROR, Status.STOPPED):
        same = [d for d in active if d.status == status]
        if same:
            return status, f"{same[0].node.name}: {same[0].status_message or status}" + unplaced
    return active[0].status, active[0].status_message + unplaced


def refresh_status(processor: Processor, *, waiting: str = "") -> Processor:
    """Write the processor's status from its replicas' (a no-op when unchanged); `waiting` says why a replica has no
    node. Without it, a message that already says why is kept rather than replaced by a vaguer one."""
    with transaction.atomic():
        locked = Processor.objects.select_for_update().get(pk=processor.pk)
        deployments = list(Deployment.objects.filter(processor=locked).select_related("node"))
        status, message = summary(locked, deployments, waiting)
        if not waiting and message == f"{WAITING}: placing it" and locked.status_message.startswith(WAITING):
            message = locked.status_message
        message = storable_text(message, 2000)
        if (locked.status, locked.status_message) != (status, message):
            Processor.objects.filter(pk=locked.pk).update(status=status, status_message=message)
            locked.status, locked.status_message = status, message
            transaction.on_commit(lambda: status_changed([locked]))
            log.info("processor %s: %s %s", locked.name, status, message)
    processor.status, processor.status_message = locked.status, locked.status_message
    return processor
