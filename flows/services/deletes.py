"""Deletes that take sockets away never strand a message (flows/runtime/archive.py).

Deleting a socket, a processor or a flow, or a graph PUT that drops sockets: when messages still wait for those
sockets (queued, or waiting for a retry), the delete is refused with 409 saying how many and where, unless the
caller forces it (`?force=true`); then, once the delete commits, every message of those sockets (dead letters
included) moves to the flow owner's dead-letter archive, where the owner can still read or purge them
(GET/DELETE /api/archive/), and every Redis key of the sockets goes. A socket that moves to another queue takes
the messages waiting in its old one along.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from backend.errors import Conflict
from flows.models import Socket
from flows.runtime import archive
from flows.runtime.archive import Gone


def leaving(sockets: Iterable[Socket], *, flow_name: str, owner_id: int) -> list[Gone]:
    """The sockets about to go, as the archive names them; a queue is theirs alone when no other socket reads it."""
    sockets = list(sockets)
    ids = {socket.pk for socket in sockets}
    shared = set(
        Socket.objects.filter(queue_id__in={s.queue_id for s in sockets})
        .exclude(pk__in=ids)
        .values_list("queue_id", flat=True)
    )
    return [
        Gone(
            socket_id=str(socket.pk),
            socket=socket.name,
            flow_id=str(socket.flow_id),
            flow=flow_name,
            queue_id=str(socket.queue_id),
            private=socket.queue_id not in shared,
            owner_id=owner_id,
        )
        for socket in sockets
    ]


def sockets_release(*, gone: list[Gone], what: str, force: bool) -> None:
    """Refuse (409) while messages wait for `gone` unless `force`; otherwise archive all of theirs once the
    surrounding transaction commits. Call inside the transaction that deletes them, before the delete."""
    if not gone:
        return
    counts = archive.waiting(gone)
    waiting = {g.socket: counts[g.socket_id] for g in gone if counts[g.socket_id].blocking}
    if waiting and not force:
        total = sum(count.blocking for count in waiting.values())
        where = ", ".join(
            f"{name or 'its queue'} ({count.queued} queued, {count.retrying} to retry)"
            for name, count in waiting.items()
        )
        raise Conflict(
            f"{what} has {total:,} message(s) waiting: {where}. Let them run first (start its processors), or delete "
            "with ?force=true to move them to the flow owner's dead-letter archive (GET /api/archive/).",
            {
                "waiting": total,
                "sockets": {name: {"queued": c.queued, "retrying": c.retrying} for name, c in waiting.items()},
            },
        )
    reason = f"{what} was deleted"
    transaction.on_commit(lambda: archive.archive(gone, reason=reason), robust=True)


def queues_follow(moves: Iterable[tuple[Any, Any, Any]]) -> None:
    """After commit, move what waits for each (socket, old queue, new queue) in the old queue to the new one."""
    triples = [(str(socket), str(old), str(new)) for socket, old, new in moves if old != new]
    if triples:
        transaction.on_commit(lambda: [archive.move_queue(*triple) for triple in triples], robust=True)
