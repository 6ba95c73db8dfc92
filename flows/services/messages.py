"""Messages into sockets (ingest) and out of queues (peek, purge, dead letters, replay).

Ingest publishes straight to the broker; the database is only read (the socket and the caller's rights).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from django.conf import settings

from backend.db import release_connections
from backend.errors import ApplicationError, Forbidden, NotFound
from flows.models import Queue, Socket
from flows.permissions import (
    processor_refusal,
    processor_rights,
    require_flow_perm,
    require_processor_perm,
    rights_read,
)
from flows.runtime import broker, keys, traces
from flows.runtime.envelope import Envelope, new_envelope
from flows.services.queues import _changes_every_user_of

MAX_WAIT = 300.0
# Seconds a client refused for back pressure is asked to wait (Retry-After): about one turn of a busy socket.
RETRY_AFTER = 1


def _check_size(data: Any, args: list[Any] | None = None, *, field: str = "data") -> None:
    """The payload and its extra arguments together, as the executor measures them (executor.Executor.call): a
    message accepted here is never refused there for its size. The error names `field`, or `args` when the
    payload alone fits."""
    size = data_size = len(json.dumps(data, ensure_ascii=False).encode())
    if args:
        size += len(json.dumps(args, ensure_ascii=False).encode())
    limit = settings.ELASTICCODE_MAX_MESSAGE_BYTES
    if size > limit:
        raise ApplicationError(
            f"The message (data and args) is {size:,} bytes of JSON; the limit is {limit:,} "
            "(ELASTICCODE_MAX_MESSAGE_BYTES). Send a reference to the data (a URL or a key) instead of the data.",
            {"fields": {"args" if data_size <= limit else field: ["too large"]}},
            status=413,
        )


def _check_room(socket: Socket) -> None:
    """Back pressure at the door: a socket whose queue is at its bound (max_queue_length, else its queue's
    max_length) takes no more messages from outside until it drains: 429 with Retry-After, as HTTP says."""
    bound = socket.max_queue_length or socket.queue.max_length
    if not bound:
        return
    depth = broker.depth(str(socket.queue_id))
    if depth >= bound:
        raise ApplicationError(
            f"Socket {socket.name} has {depth:,} messages waiting, its bound is {bound:,} (max_queue_length): "
            f"try again in {RETRY_AFTER} s, or raise the bound.",
            {"depth": depth, "bound": bound, "retry_after": RETRY_AFTER},
            status=429,
        )


def _require_run_task(user: Any, socket: Socket) -> None:
    """The run_task right on the socket's processor (or its flow, or globally): as read with the socket when the
    API looked it up for this user (`socket_with_rights`, in the same query), else in one SQL query
    (`processor_rights`), instead of guardian's checks: the processor's row, the user's Django permissions and two
    queries per object looked at, about 3 ms of every message sent (issue 14)."""
    held = rights_read(socket, user)
    if held is None:
        held = frozenset(processor_rights(user, [socket.processor_id], ["run_task"]).get(socket.processor_id, ()))
    if "run_task" not in held:
        raise processor_refusal("run_task", socket.processor)


def message_send(
    *, user: Any, socket: Socket, data: Any, args: list[Any] | None = None, wait: float | None = None
) -> dict[str, Any]:
    """Queue `data` for `socket`. With `wait`, block until the trace's sink results (or its error) are in:
    {"id", "results"} / {"id", "error"}; {"id", "timeout": True} when time runs out first."""
    _require_run_task(user, socket)
    _check_size(data, args)
    _check_room(socket)
    envelope = new_envelope(
        flow_id=str(socket.flow_id),
        socket_id=str(socket.pk),
        payload=data,
        args=args,
        tracked=wait is not None,
        socket_name=socket.name,
    )
    if wait is None:
        broker.publish([(str(socket.queue_id), envelope)])
        return {"id": envelope["id"]}
    traces.publish_tracked(str(socket.queue_id), envelope)
    release_connections()
    outcome = traces.wait(envelope["trace_id"], min(max(wait, 0.0), MAX_WAIT))
    if outcome is None:
        return {"id": envelope["id"], "timeout": True}
    return {"id": envelope["id"], **outcome}


def queue_peek(*, queue: Queue, limit: int = 10) -> dict[str, Any]:
    """The next `limit` messages, oldest first, without taking them, and the queue's depth."""
    depth = broker.depth(str(queue.pk))
    messages = [_undecodable(item) if isinstance(item, bytes) else item for item in broker.peek(str(queue.pk), limit)]
    return {"queue": str(queue.pk), "depth": depth, "messages": messages}


def queue_purge(*, user: Any, queue: Queue) -> int:
    if not (user.is_superuser or user.has_perm("flows.delete_queue") or _changes_every_user_of(user, queue)):
        raise Forbidden(
            f"You may not purge queue {queue.name}: it feeds flows you may not change. Ask their owners.",
            {"permission": "flows.change_flow"},
        )
    return broker.purge(str(queue.pk))


def _sockets_of(queue: Queue, user: Any) -> list[Socket]:
    """The queue's sockets the caller may see: a shared queue shows nobody another flow's dead letters."""
    from flows.permissions import has_processor_perm

    sockets = queue.sockets.select_related("processor", "processor__flow", "flow")
    return [s for s in sockets if has_processor_perm(user, "view_processor", s.processor)]


def _dead_letter(raw: bytes | str) -> dict[str, Any] | None:
    """One dead-letter entry, or None when it is not one (written by something else, or damaged): shown as such
    and skipped by replay, never allowed to fail the list it is in."""
    try:
        entry = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    envelope = entry.get("envelope") if isinstance(entry, dict) else None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("id"), str):
        return None
    return dict(entry)


def _undecodable(raw: bytes | str) -> dict[str, Any]:
    text = raw if isinstance(raw, str) else raw.decode(errors="replace")
    return {"undecodable": text[:200]}


def dead_letters(*, user: Any, queue: Queue, limit: int = 100) -> list[dict[str, Any]]:
    client = broker.client()
    out: list[dict[str, Any]] = []
    for socket in _sockets_of(queue, user):
        for raw in client.lrange(keys.dead_letters(socket.pk), 0, limit - 1):
            entry = _dead_letter(raw)
            if entry is None:
                out.append({**_undecodable(raw), "socket": socket.name})
                continue
            entry.setdefault("socket", socket.name)
            out.append(entry)
    return out[:limit]


def dead_letter_delete(*, user: Any, queue: Queue, message_id: str) -> None:
    """Drop one dead letter (by the id of the message that died) for good. Needs the right to change the flow:
    it is the flow's history of failures that is edited."""
    client = broker.client()
    for socket in _sockets_of(queue, user):
        key = keys.dead_letters(socket.pk)
        for raw in client.lrange(key, 0, -1):
            entry = _dead_letter(raw)
            if entry is None or entry["envelope"]["id"] != message_id:
                continue
            require_flow_perm(user, "change_flow", socket.flow)
            client.lrem(key, 1, raw)  # type: ignore[arg-type]
            return
    raise NotFound(f"No dead letter with id {message_id} in queue {queue.name}.")


def dead_letters_replay(*, user: Any, queue: Queue, message_ids: list[str] | None = None) -> list[str]:
    """Send dead letters back to their socket as new messages of the same trace; returns the new ids.
    Each entry leaves the dead-letter list only after its replacement is published. Entries that are not dead
    letters (see `_dead_letter`) stay where they are."""
    client = broker.client()
    replayed: list[str] = []
    wanted = set(message_ids) if message_ids else None
    found: set[str] = set()
    for socket in _sockets_of(queue, user):
        key = keys.dead_letters(socket.pk)
        entries = client.lrange(key, 0, -1)
        if not entries:
            continue
        for raw in entries:
            entry = _dead_letter(raw)
            if entry is None:
                continue
            old: Envelope = entry["envelope"]
            if wanted is not None and old["id"] not in wanted:
                continue
            require_processor_perm(user, "run_task", socket.processor)
            found.add(old["id"])
            new = Envelope(**{**old, "id": str(uuid.uuid4()), "attempt": 1, "sent_at": time.time(), "tracked": False})  # type: ignore[typeddict-item]
            broker.publish([(str(socket.queue_id), new)])
            client.lrem(key, 1, raw)  # type: ignore[arg-type]
            replayed.append(new["id"])
    if wanted is not None and wanted - found:
        raise NotFound(
            f"No dead letter with id {', '.join(sorted(wanted - found))} in queue {queue.name}.",
            {"fields": {"ids": ["unknown"]}},
        )
    return replayed
