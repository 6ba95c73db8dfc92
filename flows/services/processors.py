"""Writes for single processors, and the run actions (they set requested_status; agents make it so)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.accounts.services import privileges_forget
from backend.errors import ApplicationError, Conflict
from flows.models import Flow, Processor, RequestedStatus
from flows.permissions import require_flow_perm, require_processor_perm
from flows.services.deletes import leaving, sockets_release
from flows.services.graph import PROCESSOR_FIELDS
from flows.services.queues import queues_delete_unused
from flows.services.versioning import flow_lock, flow_version_bump, row_lock
from flows.validators import autoscale_problem, replicas_problem


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"This flow already has a processor named {name!r}; pick another name.",
        {"fields": {"name": ["already taken in this flow"]}},
    )


@transaction.atomic
def processor_create(*, user: Any, flow: Flow, data: dict[str, Any]) -> Processor:
    flow = flow_lock(flow_id=flow.pk)
    require_flow_perm(user, "change_flow", flow)
    values = {name: data[name] for name in PROCESSOR_FIELDS if name in data}
    if Processor.objects.filter(flow=flow, name=values.get("name")).exists():
        raise _name_taken(values.get("name", ""))
    try:
        with transaction.atomic():
            processor = Processor.objects.create(flow=flow, **values)
    except IntegrityError:
        raise _name_taken(values.get("name", "")) from None
    flow_version_bump(flow=flow, by=user.get_username())
    return processor


@transaction.atomic
def processor_update(*, user: Any, processor: Processor, data: dict[str, Any]) -> Processor:
    flow_lock(flow_id=processor.flow_id)
    processor = row_lock(Processor, processor.pk)
    require_processor_perm(user, "change_processor", processor)
    if (
        "name" in data
        and Processor.objects.filter(flow_id=processor.flow_id, name=data["name"]).exclude(pk=processor.pk).exists()
    ):
        raise _name_taken(data["name"])
    fields = [name for name in PROCESSOR_FIELDS if name in data]
    for name in fields:
        setattr(processor, name, data[name])
    problem = autoscale_problem(processor.concurrency, processor.autoscale_max)
    if problem:
        if "autoscale_max" not in data:  # the concurrency moved up to (or past) the stored autoscale bound
            problem = (
                f"A concurrency of {processor.concurrency} is not below this processor's autoscale_max "
                f"({processor.autoscale_max}): raise autoscale_max with it, or set autoscale_max to 0 for a fixed pool."
            )
        field = "autoscale_max" if "autoscale_max" in data else "concurrency"
        raise ApplicationError(problem, {"fields": {field: [problem]}})
    problem = replicas_problem(processor.replicas, processor.replicas_max)
    if problem:
        field = "replicas_max" if "replicas_max" in data else "replicas"
        raise ApplicationError(problem, {"fields": {field: [problem]}})
    # Only the edited columns: run actions and agents write requested_status/status meanwhile (they lock the
    # processor row, not the flow), and a full save would write back the values this request read before.
    processor.save(update_fields=[*fields, "updated_at"])
    processor.refresh_from_db()
    flow_version_bump(flow=processor.flow, by=user.get_username())
    return processor


@transaction.atomic
def processor_delete(*, user: Any, processor: Processor, force: bool = False) -> None:
    """Delete a processor and its sockets; with messages waiting for them, only when forced (deletes.py)."""
    flow = flow_lock(flow_id=processor.flow_id)
    processor = row_lock(Processor, processor.pk)
    require_processor_perm(user, "delete_processor", processor)
    gone = leaving(processor.sockets.all(), flow_name=flow.name, owner_id=flow.owner_id)
    sockets_release(gone=gone, what=f"Processor {processor.name}", force=force)
    queue_ids = list(processor.sockets.values_list("queue_id", flat=True))
    processor_pk = processor.pk
    processor.delete()
    queues_delete_unused(queue_ids=queue_ids)
    privileges_forget(model=Processor, pks=[processor_pk])
    flow_version_bump(flow=processor.flow, by=user.get_username())


# action → (permission(s) needed, requested status)
ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("start_processor",), RequestedStatus.RUNNING),
    "stop": (("stop_processor",), RequestedStatus.STOPPED),
    "pause": (("pause_processor",), RequestedStatus.PAUSED),
    "resume": (("resume_processor",), RequestedStatus.RUNNING),
    "restart": (("stop_processor", "start_processor"), RequestedStatus.RUNNING),
}


@transaction.atomic
def processor_request(*, user: Any, processor: Processor, action: str) -> Processor:
    """Record what should run. The agent of the processor's node reconciles `status` towards it."""
    if action not in ACTIONS:
        raise ApplicationError(f"Unknown action {action!r}; use one of {', '.join(ACTIONS)}.")
    needed, requested = ACTIONS[action]
    for codename in needed:
        require_processor_perm(user, codename, processor)
    processor = Processor.objects.select_for_update().get(pk=processor.pk)
    if action == "resume" and processor.requested_status != RequestedStatus.PAUSED:
        raise Conflict(
            f"{processor.name} is not paused (it is requested {processor.requested_status}); "
            "use start to start a stopped processor."
        )
    processor.requested_status = requested
    fields = ["requested_status", "updated_at"]
    if action == "restart":
        processor.restart_requested_at = timezone.now()
        fields.append("restart_requested_at")
    processor.save(update_fields=fields)
    return processor
