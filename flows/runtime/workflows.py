"""SDK compositions (pipeline, parallel, funnel) run on the processors' workers, as Celery chain/group/chord do.

A composition is compiled once, by the web process (flows/services/workflows.py), into nodes:

    {"t": "call", "s": socket id, "f": flow id, "q": queue id, "n": socket name, "a": [args], "p": path}
    {"t": "chain", "steps": [node, ...]}        the previous result is the first argument of the next step
    {"t": "group", "members": [node, ...]}      every member gets the same input; the result is the list

(a funnel is chain(group(header), body)). A call travels as an ordinary envelope to its socket's queue, with a
continuation in `next`: a stack of frames saying what to do with the result.

    {"t": "then", "node": node}                 start node with the result as its input
    {"t": "join", "j": join id, "i": index, "n": size}   the result is member i of a group of n
    {"t": "reply"}                              the bottom: the result is the composition's answer
    {"t": "return", "k": answer key, "w": notify key}   a call made from inside a function (calls.py): the answer
                                                goes to that key and wakes the caller through that list

So the worker that finishes a call works out, from the envelope alone, the next calls to publish: no coordinator,
and nothing but the join counters lives outside the messages. A join is a Redis hash of member results; the
member whose result fills it is recorded as its owner (SET NX), so exactly that member, and its own redeliveries,
carry on with the ordered list. Every id derives from the message that starts it (uuid5), so a redelivered call
republishes the same ids and the receiving sockets drop what they already completed, as for plugs (DESIGN §4).

A failure after the retries ends the composition: the error, naming the socket and the path of the call in the
composition, becomes the answer (first answer wins), whatever the depth of nesting.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from flows.runtime import broker, keys
from flows.runtime.broker import client, patient
from flows.runtime.envelope import Envelope, child_id

Node = dict[str, Any]
Frame = dict[str, Any]

# Slot values and the owner of a join live as long as sink results (keys.RESULT_TTL).
_JOIN = """
-- KEYS: the join's hash of results, its owner; ARGV: index, encoded value, size, message id, ttl
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
if redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then return false end
redis.call('SET', KEYS[2], ARGV[4], 'NX', 'EX', ARGV[5])
if redis.call('GET', KEYS[2]) ~= ARGV[4] then return false end
return redis.call('HGETALL', KEYS[1])
"""


@dataclass
class Plan:
    """What finishing one call leads to: calls to publish and, at the bottom of the stack, the answer."""

    children: list[tuple[str, Envelope]] = field(default_factory=list)
    answer: dict[str, Any] | None = None


@dataclass
class _Ids:
    """Deterministic ids for everything one message starts: (its id, a counter)."""

    parent: str
    count: int = 0

    def next(self, kind: str) -> str:
        self.count += 1
        if kind == "call":
            return child_id(self.parent, "wf", self.count)
        return str(uuid.uuid5(uuid.UUID(self.parent), f"join:{self.count}"))


def _envelope(
    node: Node, value: list[Any], frames: list[Frame], *, trace_id: str, parent: str | None, ids: _Ids
) -> Envelope:
    args = value + list(node["a"])
    envelope = Envelope(
        id=ids.next("call"),
        trace_id=trace_id,
        parent_id=parent,
        flow_id=node["f"],
        socket_id=node["s"],
        payload=args[0] if args else None,
        args=args[1:],
        attempt=1,
        sent_at=time.time(),
        tracked=False,
    )
    envelope["next"] = frames
    envelope["path"] = node.get("p", "")
    return envelope


def start(
    node: Node, value: list[Any], frames: list[Frame], *, trace_id: str, parent: str | None, ids: _Ids
) -> list[tuple[str, Envelope]]:
    """The calls that begin `node` with input `value` ([] at the very start, [result] after a step)."""
    kind = node["t"]
    if kind == "call":
        return [(node["q"], _envelope(node, value, frames, trace_id=trace_id, parent=parent, ids=ids))]
    if kind == "chain":
        steps = node["steps"]
        rest = [{"t": "then", "node": step} for step in steps[1:]] + frames
        return start(steps[0], value, rest, trace_id=trace_id, parent=parent, ids=ids)
    if kind == "group":
        members = node["members"]
        join = ids.next("join")
        out: list[tuple[str, Envelope]] = []
        for index, member in enumerate(members):
            frame = {"t": "join", "j": join, "i": index, "n": len(members)}
            out += start(member, value, [frame, *frames], trace_id=trace_id, parent=parent, ids=ids)
        return out
    raise ValueError(f"unknown node type {kind!r}")


def begin(root: Node, trace_id: str) -> list[tuple[str, Envelope]]:
    """The first calls of a submitted composition."""
    return start(root, [], [{"t": "reply"}], trace_id=trace_id, parent=None, ids=_Ids(trace_id))


def _join(frame: Frame, trace_id: str, message_id: str, value: Any) -> list[Any] | None:
    """Put `value` in its slot; the ordered results when this message filled the join (and owns it), else None."""
    join_keys = [keys.workflow_join(trace_id, frame["j"]), keys.workflow_join_owner(trace_id, frame["j"])]
    argv = [frame["i"], json.dumps(value), frame["n"], message_id, keys.RESULT_TTL]
    raw = patient(lambda: broker.script(_JOIN)(keys=join_keys, args=argv))
    if not raw:
        return None
    slots = {int(raw[i]): raw[i + 1] for i in range(0, len(raw), 2)}
    return [json.loads(slots[i]) for i in range(frame["n"])]


def advance(envelope: Envelope, value: Any) -> Plan:
    """What the result `value` of the workflow call `envelope` leads to (performs the joins it fills)."""
    frames: list[Frame] = list(envelope.get("next") or [])
    trace_id = envelope["trace_id"]
    ids = _Ids(envelope["id"])
    while frames:
        frame, frames = frames[0], frames[1:]
        if frame["t"] == "then":
            return Plan(start(frame["node"], [value], frames, trace_id=trace_id, parent=envelope["id"], ids=ids))
        if frame["t"] == "join":
            collected = _join(frame, trace_id, envelope["id"], value)
            if collected is None:
                return Plan()  # another member will carry on
            value = collected
            continue
        if frame["t"] in ("reply", "return"):
            return Plan(answer={"status": "succeeded", "result": value})
        raise ValueError(f"unknown frame type {frame['t']!r}")
    return Plan(answer={"status": "succeeded", "result": value})


def failed(envelope: Envelope, failure: dict[str, Any]) -> dict[str, Any]:
    """The answer when a call of the composition fails for good."""
    return {"status": "failed", "error": {**failure, "path": envelope.get("path", "")}}


def is_workflow_call(envelope: Envelope) -> bool:
    return "next" in envelope


def returns_to_function(envelope: Envelope) -> bool:
    """Whether this is a call made from inside a function (a `return` frame at the bottom of its stack)."""
    frames = envelope.get("next") or []
    return bool(frames) and frames[-1].get("t") == "return"


def answer_to(envelope: Envelope) -> tuple[str, str, int]:
    """Where the answer of a workflow call goes: (answer key, notify list, seconds kept). A call made from inside a
    function names its own (a `return` frame at the bottom of its stack); a composition's is its trace's."""
    frames = envelope.get("next") or []
    bottom = frames[-1] if frames else {}
    if bottom.get("t") == "return":
        return str(bottom["k"]), str(bottom["w"]), int(bottom.get("ttl") or keys.RESULT_TTL)
    return keys.workflow_answer(envelope["trace_id"]), keys.workflow_notify(envelope["trace_id"]), keys.DONE_TTL


def answer(trace_id: str) -> dict[str, Any] | None:
    raw = patient(lambda: client().get(keys.workflow_answer(trace_id)))
    return json.loads(raw) if raw else None


def wait(trace_id: str, timeout: float) -> dict[str, Any] | None:
    """Block until the composition has its answer (woken by the completing worker: no polling), or None."""
    deadline = time.monotonic() + timeout
    redis = client()
    notify = keys.workflow_notify(trace_id)
    while True:
        found = answer(trace_id)
        if found is not None:
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        # The list is a latch: whoever pops the token pushes it back, so every waiter wakes.
        popped = redis.blpop([notify], timeout=min(left, 5.0))
        if popped:
            redis.rpush(notify, popped[1])
            redis.expire(notify, keys.RESULT_TTL)
