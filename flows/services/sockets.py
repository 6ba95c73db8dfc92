"""Writes for single sockets and plugs (the graph service replaces many at once)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from backend.errors import ApplicationError, Conflict, Forbidden
from flows.models import Plug, Processor, Queue, Socket
from flows.permissions import require_flow_perm
from flows.services.deletes import leaving, queues_follow, sockets_release
from flows.services.graph import PLUG_FIELDS, SOCKET_FIELDS
from flows.services.queues import AUTO_PREFIX, auto_queue_name, queues_delete_unused, queues_not_usable
from flows.services.versioning import flow_lock, flow_version_bump, row_lock


def _queue(name: str | None, socket_id: uuid.UUID, user: Any, flow_id: Any) -> Queue:
    if name and name.startswith(AUTO_PREFIX) and name != auto_queue_name(socket_id):
        raise ApplicationError(
            f"Queue names starting with {AUTO_PREFIX!r} are reserved for automatic queues.",
            {"fields": {"queue": ["reserved prefix"]}},
        )
    if name and queues_not_usable(user=user, names=[name], flow_id=flow_id):
        raise Forbidden(
            f"Queue {name!r} feeds a flow you may not change; use another queue.",
            {"fields": {"queue": ["feeds a flow you may not change"]}},
        )
    queue, _ = Queue.objects.get_or_create(name=name or auto_queue_name(socket_id))
    return queue


def _socket_name_taken(name: str) -> Conflict:
    return Conflict(
        f"This flow already has a socket named {name!r}; socket names are unique in a flow.",
        {"fields": {"name": ["already taken in this flow"]}},
    )


@transaction.atomic
def socket_create(*, user: Any, processor: Processor, data: dict[str, Any]) -> Socket:
    flow = flow_lock(flow_id=processor.flow_id)
    require_flow_perm(user, "change_flow", flow)
    if Socket.objects.filter(flow=flow, name=data["name"]).exists():
        raise _socket_name_taken(data["name"])
    socket_id = uuid.uuid4()
    values = {name: data[name] for name in SOCKET_FIELDS if name in data}
    # A new socket goes last among its processor's (the user reorders them in the graph document).
    last = Socket.objects.filter(processor=processor).aggregate(last=Max("order"))["last"]
    values["order"] = 0 if last is None else last + 1
    try:
        with transaction.atomic():
            socket = Socket.objects.create(
                id=socket_id,
                flow=flow,
                processor=processor,
                queue=_queue(data.get("queue"), socket_id, user, flow.pk),
                **values,
            )
    except IntegrityError:
        raise _socket_name_taken(data["name"]) from None
    flow_version_bump(flow=flow, by=user.get_username())
    return socket


@transaction.atomic
def socket_update(*, user: Any, socket: Socket, data: dict[str, Any]) -> Socket:
    flow = flow_lock(flow_id=socket.flow_id)
    require_flow_perm(user, "change_flow", flow)
    socket = row_lock(Socket, socket.pk)
    if "name" in data and Socket.objects.filter(flow=flow, name=data["name"]).exclude(pk=socket.pk).exists():
        raise _socket_name_taken(data["name"])
    old_queue = socket.queue_id
    if "queue" in data:
        socket.queue = _queue(data["queue"], socket.pk, user, flow.pk)
        queues_follow([(socket.pk, old_queue, socket.queue_id)])
    for name in SOCKET_FIELDS:
        if name in data:
            setattr(socket, name, data[name])
    socket.save()
    queues_delete_unused(queue_ids=[old_queue])
    flow_version_bump(flow=flow, by=user.get_username())
    return socket


@transaction.atomic
def socket_delete(*, user: Any, socket: Socket, force: bool = False) -> None:
    """Delete a socket; with messages waiting for it, only when forced (flows/services/deletes.py)."""
    flow = flow_lock(flow_id=socket.flow_id)
    require_flow_perm(user, "change_flow", flow)
    socket = row_lock(Socket, socket.pk)
    gone = leaving([socket], flow_name=flow.name, owner_id=flow.owner_id)
    sockets_release(gone=gone, what=f"Socket {socket.name}", force=force)
    queue_id = socket.queue_id
    socket.delete()
    queues_delete_unused(queue_ids=[queue_id])
    flow_version_bump(flow=flow, by=user.get_username())


def _check_plug_ends(source: Socket, target: Socket) -> None:
    if source.flow_id != target.flow_id:
        raise ApplicationError(
            "A plug joins two sockets of the same flow; these belong to different flows.",
            {"fields": {"target": ["socket of another flow"]}},
        )
    if source.pk == target.pk:
        raise ApplicationError(
            "A plug cannot join a socket to itself; pick another target socket.",
            {"fields": {"target": ["same as source"]}},
        )


def _plug_conflict(data: dict[str, Any]) -> Conflict:
    return Conflict(
        "This flow already has a plug with that name, or the same plug between these sockets.",
        {"fields": {"name": ["already taken in this flow, or the edge exists"]}},
    )


@transaction.atomic
def plug_create(*, user: Any, source: Socket, target: Socket, data: dict[str, Any]) -> Plug:
    _check_plug_ends(source, target)
    flow = flow_lock(flow_id=source.flow_id)
    require_flow_perm(user, "change_flow", flow)
    values = {name: data[name] for name in PLUG_FIELDS if name in data}
    values["name"] = values.get("name") or f"{source.name}-{values.get('kind', 'result')}-{target.name}"[:200]
    try:
        with transaction.atomic():
            plug = Plug.objects.create(flow=flow, source=source, target=target, **values)
            with transaction.get_connection().cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except IntegrityError:
        raise _plug_conflict(data) from None
    flow_version_bump(flow=flow, by=user.get_username())
    return plug


@transaction.atomic
def plug_update(*, user: Any, plug: Plug, data: dict[str, Any]) -> Plug:
    flow = flow_lock(flow_id=plug.flow_id)
    require_flow_perm(user, "change_flow", flow)
    plug = row_lock(Plug, plug.pk)
    source = data.get("source", plug.source)
    target = data.get("target", plug.target)
    _check_plug_ends(source, target)
    if source.flow_id != plug.flow_id:
        raise ApplicationError(
            "A plug stays in its flow; pick sockets of the same flow.",
            {"fields": {"source": ["socket of another flow"]}},
        )
    plug.source, plug.target = source, target
    for name in PLUG_FIELDS:
        if name in data:
            setattr(plug, name, data[name])
    try:
        with transaction.atomic():
            plug.save()
            with transaction.get_connection().cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except IntegrityError:
        raise _plug_conflict(data) from None
    flow_version_bump(flow=flow, by=user.get_username())
    return plug


@transaction.atomic
def plug_delete(*, user: Any, plug: Plug) -> None:
    flow = flow_lock(flow_id=plug.flow_id)
    require_flow_perm(user, "change_flow", flow)
    plug.delete()
    flow_version_bump(flow=flow, by=user.get_username())
