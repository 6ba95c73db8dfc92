"""Writes for flows as a whole: create, update, delete, duplicate."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from backend.accounts.services import privilege_grant, privileges_forget
from backend.errors import ApplicationError, Conflict, Forbidden
from flows.models import Flow, Processor, RequestedStatus
from flows.permissions import require_flow_perm
from flows.services.deletes import leaving, sockets_release
from flows.services.processors import processor_request
from flows.services.versioning import flow_lock, flow_version_bump


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"You already have a flow named {name!r}; pick another name.", {"fields": {"name": ["already taken"]}}
    )


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A flow needs a name.", {"fields": {"name": ["required"]}})
    return name


@transaction.atomic
def flow_create(
    *, user: Any, name: str, description: str = "", layout: dict[str, Any] | None = None, chaos: int = 0
) -> Flow:
    if not (user.is_superuser or user.has_perm("flows.add_flow")):
        raise Forbidden("You may not create flows: ask an administrator for the CREATE (or ADD_FLOW) right.")
    name = _check_name(name)
    if Flow.objects.filter(owner=user, name=name).exists():
        raise _name_taken(name)
    try:
        with transaction.atomic():
            flow = Flow.objects.create(owner=user, name=name, description=description, layout=layout or {}, chaos=chaos)
    except IntegrityError:
        raise _name_taken(name) from None
    # The owner holds every right on the flow, recorded like any other grant so it shows in `ls privilege`.
    privilege_grant(right="ALL", user=user, obj=flow, granted_by=user, check=False)
    return flow


DEFAULT_FLOW_NAME = "default"


def flow_default(*, user: Any) -> tuple[Flow, bool]:
    """The caller's default flow (their flow named "default"), created on first use; (flow, created).

    The CLI and the SDK put objects created without a flow here, so the seeds' scripts, which name no flow, work
    as written.
    """
    flow = Flow.objects.filter(owner=user, name=DEFAULT_FLOW_NAME).first()
    if flow is not None:
        return flow, False
    try:
        return flow_create(user=user, name=DEFAULT_FLOW_NAME, description="Objects made without naming a flow."), True
    except ApplicationError as error:
        if error.status == 409:  # made by a concurrent request a moment ago
            return Flow.objects.get(owner=user, name=DEFAULT_FLOW_NAME), False
        if error.status == 403:
            raise Forbidden(
                "You have no default flow and may not create one (the CREATE right): name a flow you may change "
                "(--flow NAME, or flow= in the SDK).",
                {"permission": "flows.add_flow"},
            ) from None
        raise


@transaction.atomic
def flow_update(*, user: Any, flow: Flow, data: dict[str, Any], expected_version: int | None = None) -> Flow:
    flow = flow_lock(flow_id=flow.pk, expected_version=expected_version)
    require_flow_perm(user, "change_flow", flow)
    if "name" in data:
        name = _check_name(data["name"])
        if Flow.objects.filter(owner=flow.owner, name=name).exclude(pk=flow.pk).exists():
            raise _name_taken(name)
        flow.name = name
    if "description" in data:
        flow.description = data["description"]
    if "layout" in data:
        flow.layout = data["layout"]
    if "chaos" in data and data["chaos"] != flow.chaos:
        # A drill fails real calls on purpose: the flow's owner decides, not everyone who may edit it.
        if flow.owner_id != user.pk and not user.is_superuser:
            raise Forbidden("Only the flow's owner may start or change a chaos drill (chaos).")
        flow.chaos = data["chaos"]
    flow.save(update_fields=["name", "description", "layout", "chaos", "updated_at"])
    flow_version_bump(flow=flow)
    return flow


@transaction.atomic
def flow_delete(*, user: Any, flow: Flow, force: bool = False) -> None:
    """Delete a flow and everything in it; with messages waiting for its sockets, only when forced (deletes.py)."""
    flow = flow_lock(flow_id=flow.pk)
    require_flow_perm(user, "delete_flow", flow)
    gone = leaving(flow.sockets.all(), flow_name=flow.name, owner_id=flow.owner_id)
    sockets_release(gone=gone, what=f"Flow {flow.name}", force=force)
    from flows.services.queues import queues_delete_unused

    queue_ids = list(flow.sockets.values_list("queue_id", flat=True))
    processor_ids = list(flow.processors.values_list("pk", flat=True))
    flow_pk = flow.pk
    flow.delete()
    queues_delete_unused(queue_ids=queue_ids)
    privileges_forget(model=Flow, pks=[flow_pk])
    privileges_forget(model=Processor, pks=processor_ids)


@transaction.atomic
def flow_request(*, user: Any, flow: Flow, action: str) -> list[Processor]:
    """Start, stop, pause, resume or restart every processor of the flow, all or none: a right missing on any
    processor refuses the whole request. `resume` leaves processors that are not paused as they are."""
    processors = list(Processor.objects.filter(flow=flow).order_by("name", "id"))
    if not processors:
        raise ApplicationError(f"Flow {flow.name} has no processors to {action}; add one first.")
    done = []
    for processor in processors:
        if action == "resume" and processor.requested_status != RequestedStatus.PAUSED:
            done.append(processor)
            continue
        done.append(processor_request(user=user, processor=processor, action=action))
    return done
