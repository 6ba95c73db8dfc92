"""The socket task: run one message through the processor's function and route what comes out (DESIGN §4).

Order matters for the guarantees: the function runs, the children are opened and published, then one Lua script
marks the message complete (sink result, lineage, dead letter, trace bookkeeping), and only then does Celery ack
(acks_late). A crash anywhere before the ack redelivers the message; the deterministic child ids and the completion
mark make that harmless downstream. Nothing here writes to PostgreSQL.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.exceptions import Reject

from backend.celery import app
from flows.runtime import broker, keys, traces
from flows.runtime.context import WorkerContext, current
from flows.runtime.envelope import TASK_NAME, Envelope, child
from flows.runtime.executor import Outcome
from flows.runtime.topology import SocketInfo

log = logging.getLogger(__name__)
RETRY_BACKOFF_MAX = 30.0


def backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: 1, 2, 4 … capped."""
    return min(2.0 ** (attempt - 1), RETRY_BACKOFF_MAX)


@app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def socket_task(self: Task, envelope: Envelope) -> None:
    context = current()
    if context is None:
        # Not an ElasticCode processor worker (a misconfigured consumer): never drop the message.
        time.sleep(1)
        raise Reject("no processor context in this worker", requeue=True)
    tag = str((self.request.delivery_info or {}).get("delivery_tag") or "") or None
    if tag:
        context.in_flight.add(tag)
    try:
        handle(context, envelope, redelivered=bool((self.request.delivery_info or {}).get("redelivered")))
    except Reject:
        raise
    except Exception:
        # Infrastructure trouble (broker or database gone for longer than we wait): put the message back.
        log.exception(
            "message %s of socket %s put back after an internal error", envelope.get("id"), envelope.get("socket_id")
        )
        time.sleep(1)
        raise Reject("internal error; message requeued", requeue=True) from None
    finally:
        if tag:
            context.in_flight.discard(tag)


def handle(context: WorkerContext, envelope: Envelope, *, redelivered: bool = False) -> None:
    info = context.topology.socket(envelope["flow_id"], envelope["socket_id"])
    if info is None:
        _dead_letter_unknown(envelope)
        return
    if info.processor_id != context.processor_id:
        # A queue shared with a socket of another processor: leave the message for that processor's worker.
        time.sleep(0.05)
        raise Reject("message for another processor", requeue=True)
    # Completion is atomic with publishing the children, so only a redelivered message can be one that already
    # completed; checking first saves running the function again.
    if redelivered and traces.is_done(envelope["id"]):
        traces.complete(message_id=envelope["id"], trace_id=envelope["trace_id"], tracked=envelope["tracked"])
        return
    started = time.time()
    outcome = context.executor().call(
        info.function, envelope["payload"], envelope.get("args") or [], timeout=float(info.time_limit)
    )
    if outcome.ok:
        _succeeded(context, info, envelope, outcome, started)
    else:
        _failed(context, info, envelope, outcome, started)


def _succeeded(context: WorkerContext, info: SocketInfo, envelope: Envelope, outcome: Outcome, started: float) -> None:
    by_name = {route.name: route for route in info.results}
    unknown = sorted(set(outcome.named) - set(by_name))
    if unknown:
        names = ", ".join(unknown)
        outcome = Outcome(
            ok=False,
            values=[],
            named={},
            kind="invalid_result",
            error=f"{info.function} sent to plugs[{names!r}], which is not a result plug of socket {info.name} "
            f"(its result plugs: {', '.join(sorted(by_name)) or 'none'})",
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            duration_ms=outcome.duration_ms,
        )
        _failed(context, info, envelope, outcome, started)
        return
    children: list[tuple[str, Envelope]] = []
    for route in info.results:
        values = [outcome.named[route.name]] if route.name in outcome.named else outcome.values
        for index, value in enumerate(values):
            env = child(
                envelope,
                plug_id=route.plug_id,
                index=index,
                flow_id=info.flow_id,
                socket_id=route.target_socket_id,
                payload=value,
            )
            children.append((route.target_queue_id, env))
    _finish(
        context,
        info,
        envelope,
        outcome,
        started,
        children,
        status="succeeded",
        result=outcome.values if info.is_sink else None,
    )


def _failed(context: WorkerContext, info: SocketInfo, envelope: Envelope, outcome: Outcome, started: float) -> None:
    attempt = int(envelope.get("attempt") or 1)
    if outcome.kind != "invalid_result" and attempt <= info.retries:
        retry = Envelope(**{**envelope, "attempt": attempt + 1})  # type: ignore[typeddict-item]
        delay = backoff(attempt)
        broker.patient(
            lambda: broker.client().zadd(keys.DELAYED, {broker_entry(info.queue_id, retry): time.time() + delay})
        )
        if context.lineage:
            traces.record(_lineage(context, info, envelope, outcome, started, status="retrying"))
        return
    failure = {
        "socket": info.name,
        "socket_id": info.id,
        "message_id": envelope["id"],
        "error": outcome.error,
        "error_type": outcome.error_type or outcome.kind,
        "traceback": outcome.traceback,
        "attempts": attempt,
    }
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
                    payload={**failure, "payload": envelope["payload"]},
                ),
            )
            for route in info.errors
        ]
        _finish(context, info, envelope, outcome, started, children, status="failed")
        return
    dead = {**failure, "envelope": envelope, "failed_at": time.time()}
    _finish(context, info, envelope, outcome, started, [], status="dead", error=failure, dead_letter=(info.id, dead))


def _finish(
    context: WorkerContext,
    info: SocketInfo,
    envelope: Envelope,
    outcome: Outcome,
    started: float,
    children: list[tuple[str, Envelope]],
    *,
    status: str,
    result: list[Any] | None = None,
    error: dict[str, Any] | None = None,
    dead_letter: tuple[str, dict[str, Any]] | None = None,
) -> None:
    lineage = _lineage(context, info, envelope, outcome, started, status=status) if context.lineage else None

    traces.complete(
        message_id=envelope["id"],
        trace_id=envelope["trace_id"],
        tracked=envelope["tracked"],
        children=children,
        result=result,
        error=error,
        lineage=lineage,
        dead_letter=dead_letter,
    )


def _lineage(
    context: WorkerContext, info: SocketInfo, envelope: Envelope, outcome: Outcome, started: float, *, status: str
) -> dict[str, Any]:
    return {
        "id": envelope["id"],
        "trace_id": envelope["trace_id"],
        "parent_id": envelope["parent_id"],
        "flow_id": info.flow_id,
        "socket_id": info.id,
        "socket_name": info.name,
        "status": status,
        "received_at": envelope.get("sent_at"),
        "started_at": started,
        "finished_at": time.time(),
        "duration_ms": outcome.duration_ms,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "stdout": outcome.stdout,
        "stderr": outcome.stderr,
        "worker": context.name,
        "attempt": int(envelope.get("attempt") or 1),
    }


def broker_entry(queue_id: str, envelope: Envelope) -> str:
    import json

    return json.dumps({"queue_id": queue_id, "envelope": envelope}, sort_keys=True)


def _dead_letter_unknown(envelope: Envelope) -> None:
    error = {
        "socket": "",
        "socket_id": envelope["socket_id"],
        "message_id": envelope["id"],
        "error": f"socket {envelope['socket_id']} no longer exists in flow {envelope['flow_id']}",
        "error_type": "unknown_socket",
        "traceback": "",
        "attempts": int(envelope.get("attempt") or 1),
    }
    traces.complete(
        message_id=envelope["id"],
        trace_id=envelope["trace_id"],
        tracked=envelope["tracked"],
        error=error,
        dead_letter=(envelope["socket_id"], {**error, "envelope": envelope, "failed_at": time.time()}),
    )
