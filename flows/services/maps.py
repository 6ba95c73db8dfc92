"""Map runs (ElasticFlow's distributed source with receipts): send each parcel of a file or an iterable to one
socket, keep a receipt per parcel, and re-send exactly the parcels that did not reach aggregation.

Each parcel travels as a call (the mechanism of flows/runtime/calls.py): an ordinary durable message to the socket's
queue whose `return` frame names the parcel's answer key, so its result (or its error, after the socket's retries)
comes back to the run instead of following the socket's plugs; the answer is the parcel's receipt, and the run
aggregates the answers (selectors/maps.py). A parcel's id is derived from (run, parcel, attempt): a redelivered
parcel is the same call, a retried parcel a new one. The run's trace id is its own id, so every parcel's calls are
one trace in lineage, under the run's own root call (one run in the flow's runs, not one per parcel). Answers are
kept keys.DONE_TTL (7 days): a run's status can be read, and retried, that long.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction

from backend.errors import ApplicationError
from flows.models import MapRun, Socket
from flows.runtime import broker, keys, traces
from flows.runtime.envelope import Envelope
from flows.services.messages import _check_room, _check_size, _require_run_task


def parcel_id(run: MapRun, index: int, attempt: int) -> str:
    return str(uuid.uuid5(run.pk, f"parcel:{index}:{attempt}"))


def _envelope(run: MapRun, socket: Socket, index: int) -> Envelope:
    attempt = int(run.attempts[index])
    envelope = Envelope(
        id=parcel_id(run, index, attempt),
        trace_id=str(run.pk),
        parent_id=str(run.pk),
        flow_id=str(run.flow_id),
        socket_id=str(socket.pk),
        payload=run.parcels[index],
        args=[],
        attempt=1,
        sent_at=time.time(),
        tracked=False,
    )
    envelope["socket_name"] = socket.name
    envelope["next"] = [
        {
            "t": "return",
            "k": keys.map_answer(run.pk, index, attempt),
            "w": keys.map_notify(run.pk),
            "ttl": keys.DONE_TTL,
        }
    ]
    envelope["path"] = f"parcel {index}"
    return envelope


def _send(run: MapRun, socket: Socket, indices: list[int]) -> None:
    broker.publish((str(socket.queue_id), _envelope(run, socket, index)) for index in indices)


def map_start(*, user: Any, socket: Socket, parcels: list[Any], reduce: str = "sum") -> MapRun:
    """Send every parcel to `socket` (the run_task right on it), as one run; raises ApplicationError (400) for an
    empty or too long list, or a parcel too large, before anything is sent."""
    _require_run_task(user, socket)
    limit = settings.ELASTICCODE_MAX_MAP_PARCELS
    if not parcels:
        raise ApplicationError("parcels: give at least one parcel", {"fields": {"parcels": ["empty"]}})
    if len(parcels) > limit:
        raise ApplicationError(
            f"parcels: {len(parcels):,} parcels; a run takes at most {limit:,} (ELASTICCODE_MAX_MAP_PARCELS)",
            {"fields": {"parcels": ["too many"]}},
        )
    for index, parcel in enumerate(parcels):
        _check_size(parcel, field=f"parcels[{index}]")
    _check_room(socket)
    run = MapRun.objects.create(
        flow_id=socket.flow_id,
        socket=socket,
        socket_name=socket.name,
        owner=user,
        parcels=parcels,
        attempts=[1] * len(parcels),
        reduce=reduce,
    )
    transaction.on_commit(lambda: _start(run, socket))
    return run


def _start(run: MapRun, socket: Socket) -> None:
    """The run's own call in lineage (the root its parcels hang under, one run in the flow's runs), then the parcels."""
    now = time.time()
    traces.record_lineage(
        {
            "id": str(run.pk),
            "trace_id": str(run.pk),
            "parent_id": None,
            "flow_id": str(run.flow_id),
            "socket_id": str(socket.pk),
            "socket_name": socket.name,
            "status": "succeeded",
            "received_at": now,
            "started_at": now,
            "finished_at": now,
            "duration_ms": 0.0,
            "worker": "map run",
            "attempt": 1,
            "input": f"map run of {len(run.parcels):,} parcels",
        }
    )
    _send(run, socket, list(range(len(run.parcels))))


def map_retry(*, user: Any, run: MapRun, indices: list[int]) -> list[int]:
    """Send parcels `indices` again (ElasticFlow's retry_step), each as a new call; the run_task right on the socket.
    The indices come from the run's status (selectors/maps.py: the failed ones, and the pending ones if asked)."""
    socket = run.socket
    if socket is None:
        raise ApplicationError(f"socket {run.socket_name} was deleted: this run's parcels cannot be sent again")
    _require_run_task(user, socket)
    if not indices:
        return []
    with transaction.atomic():
        locked = MapRun.objects.select_for_update().get(pk=run.pk)
        for index in indices:
            locked.attempts[index] = int(locked.attempts[index]) + 1
        locked.save(update_fields=["attempts"])
    run.attempts = locked.attempts
    transaction.on_commit(lambda: _send(locked, socket, indices))
    return indices
