"""The message envelope (DESIGN §4): JSON only, the same shape on every queue.

Child ids are derived from (parent id, plug id[, index]) with uuid5, so a redelivered parent republishes the same
ids and the receiving socket can drop what it has already completed.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, NotRequired, TypedDict

TASK_NAME = "ec.socket"


class Envelope(TypedDict):
    id: str
    trace_id: str
    parent_id: str | None
    flow_id: str
    socket_id: str
    payload: Any
    args: list[Any]
    attempt: int
    sent_at: float
    # True when somebody waits for the trace's results (ingest ?wait, the SDK): only then is the set of open
    # messages of the trace kept, so fire-and-forget flows pay nothing for it.
    tracked: bool
    # The target socket's name, for people watching Celery (flows/runtime/broker.py sends it as the task's `shadow`,
    # the name Flower and the worker's events show instead of "ec.socket"). Only for display; the id routes.
    socket_name: NotRequired[str]
    # Set by a plug with an `argument`: the payload goes to the function as that keyword, not as the first argument.
    argument: NotRequired[str]
    # An SDK composition's call (flows/runtime/workflows.py): what to do with the result instead of following the
    # socket's plugs, and where the call sits in the composition (for the error a caller sees).
    next: NotRequired[list[dict[str, Any]]]
    path: NotRequired[str]
    # A call made from inside a function (flows/runtime/calls.py): the names of the calling sockets, outermost first
    # (the depth limit counts them).
    stack: NotRequired[list[str]]


def new_envelope(
    *,
    flow_id: str,
    socket_id: str,
    payload: Any,
    args: list[Any] | None = None,
    tracked: bool = False,
    socket_name: str = "",
) -> Envelope:
    message_id = str(uuid.uuid4())
    envelope = Envelope(
        id=message_id,
        trace_id=message_id,
        parent_id=None,
        flow_id=flow_id,
        socket_id=socket_id,
        payload=payload,
        args=list(args or []),
        attempt=1,
        sent_at=time.time(),
        tracked=tracked,
    )
    if socket_name:
        envelope["socket_name"] = socket_name
    return envelope


def child_id(parent_id: str, plug_id: str, index: int = 0) -> str:
    """Deterministic: the same parent, plug and position always give the same child id."""
    return str(uuid.uuid5(uuid.UUID(parent_id), f"{plug_id}:{index}"))


def child(
    parent: Envelope,
    *,
    plug_id: str,
    index: int,
    flow_id: str,
    socket_id: str,
    payload: Any,
    argument: str = "",
    socket_name: str = "",
) -> Envelope:
    envelope = Envelope(
        id=child_id(parent["id"], plug_id, index),
        trace_id=parent["trace_id"],
        parent_id=parent["id"],
        flow_id=flow_id,
        socket_id=socket_id,
        payload=payload,
        args=[],
        attempt=1,
        sent_at=time.time(),
        tracked=parent["tracked"],
    )
    if argument:
        envelope["argument"] = argument
    if socket_name:
        envelope["socket_name"] = socket_name
    return envelope
