"""Run one taken message through the processor's function and route what comes out (DESIGN §4).

Called by the socket task (flows/tasks.py) in a Celery worker's pool thread. Order matters for the guarantees: the
function runs, then one Lua script publishes the children and marks the message complete (sink result, lineage,
dead letter, trace bookkeeping), and only then does Celery acknowledge the message (late ack). A crash anywhere
before the ack leaves the message unacknowledged, and the broker gives it to a worker again; the deterministic child
ids and the completion mark make that harmless downstream. Nothing here writes to PostgreSQL.

A message that must go back to its queue unrun raises Celery's `Reject(requeue=True)`.
"""

from __future__ import annotations

import json
import logging
import random
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any

from celery.exceptions import Reject
from django.conf import settings

from backend.db.safe import storable_text
from backend.metrics.events import CallError
from flows.runtime import archive, calls, memo, previews, traces, workflows
from flows.runtime.context import WorkerContext
from flows.runtime.envelope import Envelope, child
from flows.runtime.executor import Outcome
from flows.runtime.topology import SocketInfo

log = logging.getLogger(__name__)
RETRY_BACKOFF_MAX = 30.0


class RetryLater(Exception):
    """The call failed within the processor's retries: the socket task (flows/tasks.py) retries it with Celery's
    `Task.retry` after `countdown` seconds, as `envelope` (its next attempt), having recorded `lineage`."""

    def __init__(self, envelope: Envelope, countdown: float, lineage: dict[str, Any] | None) -> None:
        super().__init__(f"attempt {envelope.get('attempt')} of message {envelope['id']} in {countdown:.0f} s")
        self.envelope = envelope
        self.countdown = countdown
        self.lineage = lineage


@dataclass(frozen=True)
class Delivery:
    """One message a worker took: its envelope, whether the broker delivered it before (then it may have completed
    already), and its size on the broker in bytes (for the live metrics)."""

    envelope: Envelope
    redelivered: bool = False
    size: int = 0


def backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: 1, 2, 4 … capped."""
    return min(2.0 ** (attempt - 1), RETRY_BACKOFF_MAX)


def handle(context: WorkerContext, delivery: Delivery) -> None:
    envelope = delivery.envelope
    info = context.topology.socket(envelope["flow_id"], envelope["socket_id"])
    if info is None:
        _dead_letter_unknown(delivery)
        return
    if info.processor_id != context.processor_id:
        # A queue shared with a socket of another processor: leave the message for that processor's worker (kombu
        # puts a rejected message at the back of its queue).
        time.sleep(0.05)
        raise Reject(f"message {envelope['id']} is for processor {info.processor_id}", requeue=True)
    if info.message_ttl and _expired(envelope, info.message_ttl):
        _dead_letter_expired(delivery, info)
        return
    # Completion is atomic with publishing the children, so only a redelivered message can be one that already
    # completed; checking first saves running the function again.
    if delivery.redelivered and traces.is_done(envelope["id"]):
        traces.complete(message_id=envelope["id"], trace_id=envelope["trace_id"], tracked=envelope["tracked"])
        return
    # Back pressure watches the plugs' target queues; a composition's call does not follow the plugs.
    if info.bounded and not workflows.is_workflow_call(envelope) and not _room(context, info):
        # Stopping while holding: give the message back untouched (it has not run).
        raise Reject(f"message {envelope['id']} given back while its output was held", requeue=True)
    tapped = context.taps.active(info.flow_id)
    if tapped and info.id in tapped and context.taps.admit(info.id, tapped[info.id]):
        context.taps.emit([(info.id, _tap_event("socket", info.id, info.name, envelope, to=info.name))], tapped)
    metrics = context.metrics
    if metrics is not None:
        metrics.busy(1)
    try:
        started = time.time()
        outcome = _run(context, info, envelope)
        if outcome.ok:
            _succeeded(context, info, delivery, outcome, started)
        else:
            _failed(context, info, delivery, outcome, started)
    finally:
        if metrics is not None:
            metrics.busy(-1)


def _run(context: WorkerContext, info: SocketInfo, envelope: Envelope) -> Outcome:
    """The function's outcome for this message: injected by a chaos drill, from a pure socket's memo, or run."""
    if info.chaos and random.random() * 100 < info.chaos:  # a drill, not cryptography
        return Outcome(
            False,
            [],
            {},
            "error",
            error=f"ChaosError: failure injected by the flow's chaos drill ({info.chaos} % of calls)",
            error_type="ChaosError",
        )
    if not info.pure:
        return _execute(context, info, envelope)
    while True:
        state, stored, leader = memo.join(info, envelope)
        if state == "hit" and stored is not None:
            return Outcome(True, stored.get("values") or [], stored.get("named") or {}, "ok", cached=True)
        if state == "lead" or calls.on_this_stack(leader):
            # Leading; or the leader is suspended below on this very slot's stack (it waits on calls, and this runs
            # nested on top of it): waiting for it would wait for ever, so this runs too.
            break
        # The same call runs elsewhere right now: wait for its result (serving other messages meanwhile).
        calls.wait_serving(context, message_id=envelope["id"], seconds=float(info.time_limit))
    try:
        outcome = _execute(context, info, envelope)
    except BaseException:
        memo.done(info, envelope, None, None)  # its waiters must not wait for the lock to expire
        raise
    memo.done(info, envelope, outcome.values if outcome.ok else None, outcome.named if outcome.ok else None)
    return outcome


def _execute(context: WorkerContext, info: SocketInfo, envelope: Envelope) -> Outcome:
    with calls.running(envelope["id"]):
        return context.executor().call(
            info.function,
            envelope["payload"],
            envelope.get("args") or [],
            timeout=float(info.time_limit),
            argument=envelope.get("argument") or "",
            on_calls=calls.Caller(context, info, envelope),
        )


def _record(
    context: WorkerContext,
    info: SocketInfo,
    delivery: Delivery,
    outcome: Outcome,
    sent: int,
    size: int,
    *,
    retrying: bool = False,
) -> None:
    """Count the call in the live metrics. A failed attempt that will be retried is a call but not an error: errors
    count failed messages (found by a designer: one failing message showed as "err 4", its attempts)."""
    metrics = context.metrics
    if metrics is None:
        return
    envelope = delivery.envelope
    error: CallError | None = None
    if not outcome.ok and not retrying:
        error = {
            "socket_id": info.id,
            "message_id": envelope["id"],
            "trace_id": envelope["trace_id"],
            "error": (outcome.error or "")[:500],
            "error_type": outcome.error_type or outcome.kind,
            "at": time.time(),
        }
    metrics.record(
        flow_id=info.flow_id,
        socket_id=info.id,
        duration_ms=outcome.duration_ms,
        bytes_in=delivery.size,
        out=sent,
        bytes_out=size,
        error=error,
    )


def _room(context: WorkerContext, info: SocketInfo) -> bool:
    """Back pressure (flows/runtime/pressure.py): wait until every bounded output queue has room."""
    metrics = context.metrics
    on_held = None
    if metrics is not None:
        on_held = lambda ms: metrics.held(flow_id=info.flow_id, socket_id=info.id, ms=ms)  # noqa: E731
    return context.pressure.hold(info, context.stopping, on_held)


def _succeeded(context: WorkerContext, info: SocketInfo, delivery: Delivery, outcome: Outcome, started: float) -> None:
    envelope = delivery.envelope
    if workflows.is_workflow_call(envelope):
        # The result goes where the composition says (the next step, a group's join, or back to the caller),
        # not along the socket's plugs: an SDK call is a function call,
        # and its answer is what the function returned (values sent with plugs[...] do not travel).
        value = outcome.values[0] if len(outcome.values) == 1 else outcome.values
        plan = workflows.advance(envelope, value)
        _finish(context, info, delivery, outcome, started, plan.children, status="succeeded", answer=plan.answer)
        return
    by_name = {route.name: route for route in info.results}
    unknown = sorted(set(outcome.named) - set(by_name))
    if unknown:
        # PyFi's processors set plugs['plug1'] whatever flow they are in, and PyFi ignored names the flow did not
        # have: so does this, and says so in the call's captured output (its lineage).
        note = (
            f"[elasticcode] plugs[{', '.join(map(repr, unknown))}] set by {info.function}: socket {info.name} has "
            f"no result plug of that name (its result plugs: {', '.join(sorted(by_name)) or 'none'}); dropped\n"
        )
        named = {name: value for name, value in outcome.named.items() if name in by_name}
        outcome = replace(outcome, named=named, stderr=outcome.stderr + note)
    children: list[tuple[str, Envelope]] = []
    plugs: list[tuple[str, str]] = []  # per child: its plug's id and name (taps)
    for route in info.results:
        values = [outcome.named[route.name]] if route.name in outcome.named else outcome.values
        for index, value in enumerate(values):
            env = child(
                envelope,
                plug_id=route.plug_id,
                index=index,
                flow_id=info.flow_id,
                socket_id=route.target_socket_id,
                socket_name=route.target_name,
                payload=value,
                argument=route.argument,
            )
            children.append((route.target_queue_id, env))
            plugs.append((route.plug_id, route.name))
    _finish(
        context,
        info,
        delivery,
        outcome,
        started,
        children,
        status="succeeded",
        result=outcome.values if info.is_sink else None,
        plugs=plugs,
    )


def _failed(context: WorkerContext, info: SocketInfo, delivery: Delivery, outcome: Outcome, started: float) -> None:
    envelope = delivery.envelope
    attempt = int(envelope.get("attempt") or 1)
    # A call this function made failed after the callee's own retries: retrying here would only multiply them.
    if outcome.kind != "invalid_result" and outcome.remote is None and attempt <= info.retries:
        retry = Envelope(**{**envelope, "attempt": attempt + 1})  # type: ignore[typeddict-item]
        _record(context, info, delivery, outcome, 0, 0, retrying=True)
        lineage = _lineage(context, info, envelope, outcome, started, status="retrying") if context.lineage else None
        raise RetryLater(retry, backoff(attempt), lineage)
    failure = {
        "socket": info.name,
        "socket_id": info.id,
        "message_id": envelope["id"],
        "error": outcome.error,
        "error_type": outcome.error_type or outcome.kind,
        "traceback": outcome.traceback,
        "attempts": attempt,
    }
    if outcome.remote is not None:
        failure = calls.chain_failure(failure, outcome.remote, info, envelope)
        # Its lineage says the same: the callee's error type, the whole chain in words, both tracebacks.
        outcome = replace(
            outcome,
            error=str(failure["error"]),
            error_type=str(failure["error_type"]),
            traceback=str(failure["traceback"]),
        )
    if workflows.is_workflow_call(envelope):
        # The composition ends here: its caller gets the error (not the dead-letter list or the error plugs). A call
        # from inside a function is `raised`: the error is raised in that function, which decides what it means.
        answer = workflows.failed(envelope, failure)
        status = "raised" if workflows.returns_to_function(envelope) else "failed"
        _finish(context, info, delivery, outcome, started, [], status=status, answer=answer)
        return
    if info.errors:
        children = [
            (
                route.target_queue_id,
                child(
                    envelope,
                    plug_id=route.plug_id,
                    index=0,
                    flow_id=info.flow_id,
                    socket_id=route.target_socket_id,
                    socket_name=route.target_name,
                    payload={**failure, "payload": envelope["payload"]},
                    argument=route.argument,
                ),
            )
            for route in info.errors
        ]
        plugs = [(route.plug_id, route.name) for route in info.errors]
        _finish(context, info, delivery, outcome, started, children, status="failed", plugs=plugs)
        return
    dead = {**failure, "envelope": envelope, "failed_at": time.time()}
    _finish(context, info, delivery, outcome, started, [], status="dead", error=failure, dead_letter=(info.id, dead))


def _finish(
    context: WorkerContext,
    info: SocketInfo,
    delivery: Delivery,
    outcome: Outcome,
    started: float,
    children: list[tuple[str, Envelope]],
    *,
    status: str,
    result: list[Any] | None = None,
    error: dict[str, Any] | None = None,
    dead_letter: tuple[str, dict[str, Any]] | None = None,
    answer: dict[str, Any] | None = None,
    plugs: list[tuple[str, str]] | None = None,
) -> None:
    envelope = delivery.envelope
    lineage = _lineage(context, info, envelope, outcome, started, status=status) if context.lineage else None
    completion = traces.complete(
        message_id=envelope["id"],
        trace_id=envelope["trace_id"],
        tracked=envelope["tracked"],
        children=children,
        result=result,
        error=error,
        lineage=lineage,
        dead_letter=dead_letter,
        answer=answer,
        answer_to=workflows.answer_to(envelope) if answer is not None else None,
    )
    if completion and info.bounded:  # back pressure watches these queues: count this push until the next LLEN
        for queue_id, _ in children:
            context.pressure.published(queue_id)
    if completion and plugs:
        _tap_plugs(context, info, children, plugs)
    _record(context, info, delivery, outcome, len(children) if completion else 0, completion.bytes_out)


def _tap_event(kind: str, target: str, name: str, envelope: Envelope, *, to: str, source: str = "") -> dict[str, Any]:
    """One event of a tap (flows/runtime/taps.py): what passed, where, with its payload cut to a preview."""
    return {
        "kind": kind,
        "target": target,
        "name": name,
        "from": source,
        "to": to,
        "message_id": envelope["id"],
        "trace_id": envelope["trace_id"],
        "attempt": int(envelope.get("attempt") or 1),
        "at": time.time(),
        "payload": previews.of(envelope["payload"], settings.ELASTICCODE_TAP_PREVIEW_BYTES),
    }


def _tap_plugs(
    context: WorkerContext, info: SocketInfo, children: list[tuple[str, Envelope]], plugs: list[tuple[str, str]]
) -> None:
    """The messages just published along tapped plugs, to their taps (only while somebody watches)."""
    tapped = context.taps.active(info.flow_id)
    if not tapped:
        return
    events = [
        (plug_id, _tap_event("plug", plug_id, name, env, to=env.get("socket_name", ""), source=info.name))
        for (_, env), (plug_id, name) in zip(children, plugs, strict=True)
        if plug_id in tapped and context.taps.admit(plug_id, tapped[plug_id])
    ]
    context.taps.emit(events, tapped)


def _lineage(
    context: WorkerContext, info: SocketInfo, envelope: Envelope, outcome: Outcome, started: float, *, status: str
) -> dict[str, Any]:
    record = {
        "id": envelope["id"],
        "trace_id": envelope["trace_id"],
        "parent_id": envelope["parent_id"],
        "flow_id": info.flow_id,
        "socket_id": info.id,
        "socket_name": info.name,
        "status": "cached" if outcome.cached and status == "succeeded" else status,
        "received_at": envelope.get("sent_at"),
        "started_at": started,
        "finished_at": time.time(),
        "duration_ms": outcome.duration_ms,
        "worker": context.name,
        "attempt": int(envelope.get("attempt") or 1),
    }
    # Text fields only when there is something in them: most calls print nothing and succeed.
    for name in ("error", "traceback", "stdout", "stderr"):
        if value := getattr(outcome, name):
            record[name] = value
    limit = settings.ELASTICCODE_LINEAGE_PREVIEW_BYTES
    if limit > 0:
        # An outcome the executor did not produce (a memo hit, a chaos failure, an executor that could not start)
        # has no encoded payload: the input is the message's all the same.
        record["input"] = previews.cut(outcome.payload_json or previews.encoded(envelope["payload"]), limit)
        if args := envelope.get("args"):
            record["args"] = previews.of(args, limit)
        if outcome.ok:
            record["output"] = _values_preview(outcome, limit)
    return record


def _values_preview(outcome: Outcome, limit: int) -> str:
    """What the call returned: its one value, or the list of a generator's values, plus what it sent along named
    plugs; encoded for the preview only up to about `limit` values (a generator of a million values is not encoded
    whole to keep 2 KiB of it)."""
    values: Any = outcome.values[0] if len(outcome.values) == 1 else outcome.values[:limit]
    if outcome.named:
        values = {"result": values, "plugs": outcome.named}
    try:
        raw = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")
    except (TypeError, ValueError, RecursionError):
        return ""
    if len(outcome.values) > limit and len(raw) <= limit:  # values were left out: say it is cut
        return raw.decode("utf-8") + "…"
    return previews.cut(raw, limit)


def retry_entry(queue_id: str, envelope: Envelope) -> str:
    """A member of keys.DELAYED, where retries waited before they were Celery's (`Task.retry`, flows/tasks.py):
    entries left there by an older version are still released by the housekeeper and archived by deletes."""
    return json.dumps({"queue_id": queue_id, "envelope": envelope}, sort_keys=True)


def dead_letter_internal(delivery: Delivery, exc: BaseException) -> None:
    """A message whose handling raised something other than the broker or the database being away: a bug, or a
    record the platform cannot handle. Put back, it would fail again at once, for ever, in front of every other
    message of its queue; dead-lettered with the reason, it waits to be looked at and replayed."""
    envelope = delivery.envelope
    error = {
        "socket": "",
        "socket_id": envelope["socket_id"],
        "message_id": envelope["id"],
        "error": storable_text(f"the platform could not handle this message: {type(exc).__name__}: {exc}", 2000),
        "error_type": "InternalError",
        "traceback": storable_text(traceback.format_exc(), 8000),
        "attempts": int(envelope.get("attempt") or 1),
    }
    _dead_letter_unrun(delivery, error)


def _dead_letter_unrun(delivery: Delivery, error: dict[str, Any]) -> None:
    """Complete a message that did not run as dead: its dead letter, its trace's error, its caller's answer."""
    envelope = delivery.envelope
    traces.complete(
        message_id=envelope["id"],
        trace_id=envelope["trace_id"],
        tracked=envelope["tracked"],
        error=error,
        dead_letter=(envelope["socket_id"], {**error, "envelope": envelope, "failed_at": time.time()}),
        answer=workflows.failed(envelope, error) if workflows.is_workflow_call(envelope) else None,
        answer_to=workflows.answer_to(envelope) if workflows.is_workflow_call(envelope) else None,
    )


def _expired(envelope: Envelope, ttl: int) -> bool:
    """Older than its queue's message_ttl (counted from when it was sent to this socket; a retry keeps the time of
    the first attempt)."""
    try:
        return time.time() - float(envelope.get("sent_at") or 0) > ttl
    except (TypeError, ValueError):
        return False


def _dead_letter_expired(delivery: Delivery, info: SocketInfo) -> None:
    """A message that waited longer than its queue's `message_ttl` is not run: like RabbitMQ's per-queue TTL, but
    dead-lettered (inspectable, replayable) rather than dropped, since no accepted message is ever lost."""
    envelope = delivery.envelope
    waited = time.time() - float(envelope.get("sent_at") or 0)
    error = {
        "socket": info.name,
        "socket_id": info.id,
        "message_id": envelope["id"],
        "error": f"expired: waited {waited:.0f} s in the queue, longer than its message_ttl of {info.message_ttl} s",
        "error_type": "MessageExpired",
        "traceback": "",
        "attempts": int(envelope.get("attempt") or 1),
    }
    _dead_letter_unrun(delivery, error)


def _dead_letter_unknown(delivery: Delivery) -> None:
    envelope = delivery.envelope
    # A socket deleted moments ago (this worker routed with a topology a second old, or gave the message back when
    # it restarted): the message joins the rest of that socket's in its owner's archive.
    if archive.archive_late(envelope["socket_id"], dict(envelope)):
        return
    error = {
        "socket": "",
        "socket_id": envelope["socket_id"],
        "message_id": envelope["id"],
        "error": f"socket {envelope['socket_id']} no longer exists in flow {envelope['flow_id']}",
        "error_type": "unknown_socket",
        "traceback": "",
        "attempts": int(envelope.get("attempt") or 1),
    }
    _dead_letter_unrun(delivery, error)
