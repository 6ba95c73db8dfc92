"""Calls from inside a function (Girder's emergent requests): `from elasticcode import call, calls` in user code.

    def ratio(n):
        return call("divide", n, 0)      # runs socket `divide` of the same flow: divide(n, 0)

The path of one call, top to bottom:

1. The executor's runner sends {"op": "calls"} to its host instead of a reply (runner.py); the host hands the
   requests to the `Caller` of the message being run (executor.py → here).
2. Each request becomes a durable message to the target socket's queue: an ordinary envelope, child of the calling
   message (lineage draws the emergent tree), whose `next` is a `return` frame (workflows.py) naming its answer key
   and the caller's notify list, and whose `stack` lists the calling sockets (depth limit, error chains). Its id is
   derived from the caller's id, attempt and the call's number, so a redelivered caller calls the same ids again.
   A pure target's answer may already be in its memo (memo.py): then nothing is sent.
3. The target's worker runs it like any message (retries, chaos, memo, lineage), and instead of following its plugs
   stores the answer and wakes the caller, in the completion's one script (traces.py).
4. Meanwhile the caller's slot does not sit idle: it serves its worker's other messages, nested on its own stack as
   Girder does (pool.py `serve_one`; the executor runs them on top of the waiting function), at most
   ELASTICCODE_CALL_NESTING deep, and its prefetch window is widened by one while it waits (consumer.py `lend`), so
   the broker keeps sending what the waiting calls need. So recursion through one processor with one slot finishes.
5. The answers go back to the function in order; a failed one raises `CallFailed` there. A function that lets it
   through fails with the callee's error, its chain of calls growing by one link per level (`chain_failure`).

A chain of calls deeper than ELASTICCODE_CALL_MAX_DEPTH fails at once with CallDepthExceeded; an answer that does not
come within ELASTICCODE_CALL_TIMEOUT seconds fails with CallTimeout (the call itself goes on).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from flows.runtime import broker, consumer, keys, memo, traces
from flows.runtime.broker import client, patient
from flows.runtime.context import WorkerContext
from flows.runtime.envelope import Envelope, child_id
from flows.runtime.topology import SocketInfo

log = logging.getLogger(__name__)
# KEYS: the caller's notify list, then the answer keys still missing. The answers there, each taken (GET and DEL);
# the wake tokens dropped with them (any answer that comes later pushes its own).
_TAKE = """
local out = {}
for i = 2, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value then redis.call('DEL', KEYS[i]) end
  out[i - 1] = value or false
end
redis.call('DEL', KEYS[1])
return out
"""
_stack = threading.local()  # the ids of the messages this slot thread runs: suspended ones below, the top one
CALL_TEXT = 80  # characters of a call's arguments in its chain ("divide(1, 0)")
# What a chained failure keeps of the callee's error, which came back through user code (CallFailed can be raised
# with any document): text only, and bounded.
ERROR_TEXT = 2000
TRACEBACK_TEXT = 20_000


def describe(name: str, payload: Any, args: list[Any] | None = None) -> str:
    """`divide(1, 0)`: how a call shows in an error chain (arguments as JSON, cut at CALL_TEXT characters)."""
    try:
        text = ", ".join(json.dumps(value, ensure_ascii=False) for value in [payload, *(args or [])])
    except (TypeError, ValueError, RecursionError):
        text = "…"
    if len(text) > CALL_TEXT:
        text = text[: CALL_TEXT - 1] + "…"
    return f"{name}({text})"


@contextmanager
def running(message_id: str) -> Iterator[None]:
    """Mark `message_id` as running on this slot's stack while its function runs (see `on_this_stack`)."""
    ids: list[str] | None = getattr(_stack, "ids", None)
    if ids is None:
        ids = _stack.ids = []
    ids.append(message_id)
    try:
        yield
    finally:
        ids.pop()


def on_this_stack(message_id: str) -> bool:
    """Whether that message runs on this slot's thread, below the one running now (suspended, waiting on calls)."""
    return bool(message_id) and message_id in (getattr(_stack, "ids", None) or ())


def _failure(socket: str, error_type: str, error: str, path: str = "") -> dict[str, Any]:
    """The answer of a call refused before it was sent; `path` is the call as it shows in a chain."""
    failure = {"socket": socket, "error_type": error_type, "error": error, "traceback": "", "path": path}
    return {"ok": False, "error": failure}


class Caller:
    """Serves the calls of one message's function (executor.CallsHandler): one per message run."""

    def __init__(self, context: WorkerContext, info: SocketInfo, envelope: Envelope) -> None:
        self.context = context
        self.info = info
        self.envelope = envelope
        self.count = 0
        stack = envelope.get("stack") or []
        self.stack: list[str] = [*stack, info.name] if isinstance(stack, list) else [info.name]

    def __call__(self, requests: list[Any]) -> list[dict[str, Any]]:
        answers: dict[int, dict[str, Any]] = {}
        waiting: dict[int, str] = {}  # request index → its answer key
        outgoing: list[tuple[str, Envelope]] = []
        envelope = self.envelope
        attempt = int(envelope.get("attempt") or 1)
        notify = keys.call_notify(envelope["id"])
        for index, request in enumerate(requests):
            self.count += 1
            # The runner sends dicts; the frame still comes from the user's process, so nothing in it is trusted.
            request = request if isinstance(request, dict) else {}
            name, payload, args = request.get("socket"), request.get("payload"), request.get("args") or []
            args = args if isinstance(args, list) else [args]
            target = self.context.topology.socket_named(self.info.flow_id, name) if isinstance(name, str) else None
            if target is None:
                answers[index] = _failure(
                    str(name),
                    "LookupError",
                    f"this flow has no socket named {name!r} (called from {self.info.name})",
                    describe(str(name), payload, args),
                )
                continue
            if len(self.stack) >= settings.ELASTICCODE_CALL_MAX_DEPTH:
                path = " → ".join([*self.stack, target.name])
                answers[index] = _failure(
                    target.name,
                    "CallDepthExceeded",
                    f"calls nested deeper than {settings.ELASTICCODE_CALL_MAX_DEPTH} "
                    f"(ELASTICCODE_CALL_MAX_DEPTH): {path}",
                    describe(target.name, payload, args),
                )
                continue
            call_id = child_id(envelope["id"], f"call:{attempt}", self.count)
            if target.pure:
                hit = memo.lookup(target, payload, args)
                if hit is not None:
                    answers[index] = {"ok": True, "value": hit}
                    if self.context.lineage:
                        traces.record_lineage(
                            memo.hit_record(self.context, envelope, target, call_id, payload, args, hit)
                        )
                    continue
            answer_key = keys.call_answer(call_id)
            call = Envelope(
                id=call_id,
                trace_id=envelope["trace_id"],
                parent_id=envelope["id"],
                flow_id=target.flow_id,
                socket_id=target.id,
                payload=payload,
                args=args,
                attempt=1,
                sent_at=time.time(),
                tracked=False,
            )
            call["socket_name"] = target.name
            call["next"] = [{"t": "return", "k": answer_key, "w": notify, "ttl": settings.ELASTICCODE_CALL_ANSWER_TTL}]
            call["path"] = describe(target.name, payload, args)
            call["stack"] = self.stack
            outgoing.append((target.queue_id, call))
            waiting[index] = answer_key
        if outgoing:
            broker.publish(outgoing)
            answers.update(self._wait(waiting, notify))
        return [answers[index] for index in range(len(requests))]

    def _wait(self, waiting: dict[int, str], notify: str) -> dict[int, dict[str, Any]]:
        """The answers of `waiting` (index → answer key), serving the worker's other messages meanwhile. Each look
        is one script that takes the answers that came (and drops the wake tokens): no answer is read twice and none
        is left behind in Redis once read."""
        taken: dict[str, Any] = {}

        def answered() -> bool:
            missing = [name for name in waiting.values() if name not in taken]
            found = patient(lambda: broker.script(_TAKE)(keys=[notify, *missing]))
            taken.update({name: value for name, value in zip(missing, found, strict=True) if value})
            return len(taken) == len(waiting)

        # Answers cannot be there before the calls went out: wait for a wake token first (they are latched).
        _serve_until(self.context, answered, notify, float(settings.ELASTICCODE_CALL_TIMEOUT), look_first=False)
        out: dict[int, dict[str, Any]] = {}
        for index, key in waiting.items():
            value = taken.get(key)
            if value is None:
                out[index] = _failure(
                    "",
                    "CallTimeout",
                    f"no answer within {settings.ELASTICCODE_CALL_TIMEOUT} s (ELASTICCODE_CALL_TIMEOUT); "
                    "the call goes on",
                )
                continue
            answer = json.loads(value)
            if answer.get("status") == "succeeded":
                out[index] = {"ok": True, "value": answer.get("result")}
            else:
                error = dict(answer.get("error") or {})
                if not error.get("chain"):  # the callee failed in its own code: the chain starts there
                    error["chain"] = [{"socket": error.get("socket") or "", "call": error.get("path") or ""}]
                out[index] = {"ok": False, "error": error}
        return out


def wait_serving(context: WorkerContext, *, message_id: str, seconds: float) -> None:
    """Wait until message `message_id`'s notify list is pushed (or `seconds` pass), serving meanwhile (memo.py's
    waiters)."""
    woken: list[bool] = []
    _serve_until(context, lambda: bool(woken), keys.call_notify(message_id), seconds, lambda: woken.append(True))


def _serve_until(
    context: WorkerContext,
    ready: Callable[[], bool],
    notify: str,
    seconds: float,
    on_notify: Callable[[], None] | None = None,
    *,
    look_first: bool = True,
) -> bool:
    """Until `ready()`: serve one of the worker's messages if there is one, else block on `notify` and the worker's
    poke list (a message arrived), a second at most. False when `seconds` passed first. `look_first=False` blocks
    (or serves) once before the first look."""
    from flows.runtime import pool  # the worker's pool; imported late (it imports Celery's worker)

    redis = client()
    slots = pool.current()
    poke = keys.worker_poke(context.name)
    deadline = time.monotonic() + seconds
    looked = look_first
    with _waiting(context, slots):
        while not looked or not ready():
            looked = True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if slots is not None and slots.serve_one():
                continue
            wait = min(left, 1.0)
            popped = patient(lambda: redis.blpop([notify, poke], timeout=wait))  # noqa: B023 - called at once
            if popped and on_notify is not None and popped[0] in (notify, notify.encode()):
                on_notify()
    return True


@contextmanager
def _waiting(context: WorkerContext, slots: Any) -> Iterator[None]:
    """While a slot waits on its calls: it is not busy, its worker may take one more message, and a message that
    arrives pokes it (pool.py)."""
    metrics = context.metrics
    if metrics is not None:
        metrics.busy(-1)
    consumer.lend(1)
    if slots is not None:
        slots.waiting(1)
    try:
        yield
    finally:
        if slots is not None:
            slots.waiting(-1)
        consumer.lend(-1)
        if metrics is not None:
            metrics.busy(1)


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chain_failure(
    failure: dict[str, Any], remote: dict[str, Any], info: SocketInfo, envelope: Envelope
) -> dict[str, Any]:
    """The failure of a function that let a failed call's CallFailed through: the callee's error, type and
    traceback, with this call added to its chain (`ZeroDivisionError: division by zero (in divide(1, 0), called
    from ratio(1))`). `remote` came through user code, so only its known fields are taken, as text."""
    here = {"socket": info.name, "call": describe(info.name, envelope["payload"], envelope.get("args"))}
    chain = [
        {"socket": _text(link.get("socket"), 200), "call": _text(link.get("call"), CALL_TEXT + 200)}
        for link in (remote.get("chain") or [])[: settings.ELASTICCODE_CALL_MAX_DEPTH + 1]
        if isinstance(link, dict)
    ]
    if not chain:
        chain = [{"socket": _text(remote.get("socket"), 200), "call": _text(remote.get("path"), CALL_TEXT + 200)}]
    chain.append(here)
    origin = _text(remote.get("error") or remote.get("error_type") or "failed", ERROR_TEXT)
    where = ", called from ".join(link["call"] or link["socket"] for link in chain)
    traceback = _text(remote.get("traceback"), TRACEBACK_TEXT)
    if failure.get("traceback"):
        local = str(failure["traceback"])
        local = local if len(local) <= TRACEBACK_TEXT else "…" + local[-TRACEBACK_TEXT:]  # its end: where it raised
        traceback += f"\n{here['call']}, where the call was made:\n{local}"
    return {
        **failure,
        "error": f"{origin} (in {where})",
        "error_type": _text(remote.get("error_type") or "CallFailed", 200),
        "traceback": traceback,
        "origin": chain[0]["socket"],
        "chain": chain,
    }
