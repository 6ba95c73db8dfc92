"""Writes for queues. A socket gets its own queue unless it names a shared one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from backend.errors import ApplicationError, Conflict, Forbidden
from flows.models import Flow, Queue
from flows.permissions import has_flow_perm
from flows.runtime import broker
from flows.runtime.archive import Gone
from flows.services.deletes import sockets_release
from flows.services.versioning import flow_version_bump

AUTO_PREFIX = "q."


def auto_queue_name(socket_id: object) -> str:
    return f"{AUTO_PREFIX}{socket_id}"


def queues_delete_unused(*, queue_ids: Iterable[object]) -> None:
    """Drop the automatic queues of removed sockets; named queues stay (others may mean to reuse them). Their wake
    lists on a Redis broker go too, once the delete is committed."""
    unused = Queue.objects.filter(pk__in=list(queue_ids), sockets__isnull=True, name__startswith=AUTO_PREFIX)
    gone = [str(pk) for pk in unused.values_list("pk", flat=True)]
    unused.delete()
    if gone:
        transaction.on_commit(lambda: broker.forget_wakes(gone))


@transaction.atomic
def queue_create(*, user: Any, name: str, max_length: int | None = None, message_ttl: int | None = None) -> Queue:
    if not (user.is_superuser or user.has_perm("flows.add_queue")):
        raise Forbidden("You may not create queues: ask an administrator for the CREATE (or ADD_QUEUE) right.")
    if name.startswith(AUTO_PREFIX):
        raise ApplicationError(
            f"Queue names starting with {AUTO_PREFIX!r} are reserved for automatic queues.",
            {"fields": {"name": ["reserved prefix"]}},
        )
    try:
        with transaction.atomic():
            return Queue.objects.create(name=name, max_length=max_length, message_ttl=message_ttl, created_by=user)
    except IntegrityError:
        raise Conflict(
            f"A queue named {name!r} already exists; use it or pick another name.",
            {"fields": {"name": ["already taken"]}},
        ) from None


def _changes_every_user_of(user: Any, queue: Queue) -> bool:
    """A queue only the caller's own flows read from is theirs to tune (max length, TTL), and so is one they made
    that no socket uses yet."""
    flows = {socket.flow for socket in queue.sockets.select_related("flow")}
    if not flows:
        return _made_by(user, queue)
    return all(has_flow_perm(user, "change_flow", flow) for flow in flows)


def _made_by(user: Any, queue: Queue) -> bool:
    return queue.created_by_id is not None and queue.created_by_id == user.pk


def queues_not_usable(*, user: Any, names: Iterable[str], flow_id: Any = None) -> set[str]:
    """Named queues the caller may not attach a socket to: ones that also feed flows they may not change.

    Attaching a socket to a queue means consuming its messages, so a queue shared with someone else's flow is
    only usable by whoever may change that flow too (or holds UPDATE_QUEUE).
    """
    if user.is_superuser or user.has_perm("flows.change_queue"):
        return set()
    from flows.models import Socket

    rows = Socket.objects.filter(queue__name__in=list(names)).exclude(flow_id=flow_id)
    pairs = set(rows.values_list("queue__name", "flow_id"))
    flows = {flow.pk: flow for flow in Flow.objects.filter(pk__in={flow for _, flow in pairs})}
    return {name for name, flow in pairs if not has_flow_perm(user, "change_flow", flows[flow])}


@transaction.atomic
def queue_update(*, user: Any, queue: Queue, data: dict[str, Any]) -> Queue:
    if not (user.is_superuser or user.has_perm("flows.change_queue") or _changes_every_user_of(user, queue)):
        raise Forbidden(
            "You may not change this queue: it feeds sockets of flows you may not change "
            "(or none); ask for the UPDATE_QUEUE right."
        )
    changed = False
    for field in ("max_length", "message_ttl"):
        if field in data and getattr(queue, field) != data[field]:
            setattr(queue, field, data[field])
            changed = True
    queue.save()
    if changed:
        # Workers read a queue's bound and TTL with their flow's topology, reloaded when the flow's version moves.
        for flow in Flow.objects.filter(pk__in=queue.sockets.values("flow_id")).order_by("pk").select_for_update():
            flow_version_bump(flow=flow)
    return queue


@transaction.atomic
def queue_delete(*, user: Any, queue: Queue, force: bool = False) -> None:
    """Delete a queue no socket reads; with messages in it, only when forced: they go to the caller's archive."""
    if not (user.is_superuser or user.has_perm("flows.delete_queue") or _made_by(user, queue)):
        raise Forbidden(
            "You may not delete this queue: you did not make it; ask an administrator for the DELETE_QUEUE right."
        )
    if queue.sockets.exists():
        names = ", ".join(queue.sockets.values_list("name", flat=True)[:5])
        raise Conflict(f"Queue {queue.name!r} is in use by socket(s) {names}; point them at another queue first.")
    gone = Gone(socket_id="", socket="", flow_id="", flow="", queue_id=str(queue.pk), private=True, owner_id=user.pk)
    sockets_release(gone=[gone], what=f"Queue {queue.name}", force=force)
    queue.delete()
