"""The socket task: what a processor's Celery worker runs for each message of its socket queues (DESIGN §4).

Registered as `ec.socket` (envelope.TASK_NAME); its one argument is the envelope (flows/runtime/envelope.py),
sent as Celery task protocol 2 in JSON by the platform (flows/runtime/broker.py) or by any Celery client. Thin on
purpose: the handler (flows/runtime/handler.py) runs the function and routes what comes out; this maps what can go
wrong onto Celery's outcomes. The task returns normally once the message is complete, and Celery acknowledges it
then (late ack); `Reject(requeue=True)` gives it back to its queue unrun.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from amqp.exceptions import ConnectionError as AMQPConnectionError
from celery import Task
from celery.exceptions import Reject, Retry
from celery.worker.request import Request
from django.db import DatabaseError
from kombu.exceptions import OperationalError

from backend.celery import app
from flows.runtime import broker, consumer, keys, traces
from flows.runtime.context import current
from flows.runtime.envelope import TASK_NAME, Envelope
from flows.runtime.handler import Delivery, RetryLater, dead_letter_internal, handle

log = logging.getLogger(__name__)
ENVELOPE_KEYS = ("id", "trace_id", "flow_id", "socket_id", "payload")
# After the broker or the database failed a message, wait this long before the worker takes the next one.
INFRASTRUCTURE_PAUSE = 1.0


class SocketRequest(Request):  # type: ignore[misc]
    """Celery's request, plus the message's body size in bytes (the live metrics' bytes in), which the task itself
    cannot see, and a wake-up of the event loop when an ack frees a full prefetch window (flows/runtime/consumer.py)."""

    def __init__(self, message: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        body = self._body  # type: ignore[attr-defined]
        self._request_dict["size"] = len(body) if isinstance(body, bytes | str) else 0  # type: ignore[attr-defined]

    def acknowledge(self) -> None:
        was_full = consumer.full(self._message)  # type: ignore[attr-defined]
        super().acknowledge()
        if was_full:
            consumer.wake()

    def reject(self, requeue: bool = False) -> None:
        was_full = consumer.full(self._message)  # type: ignore[attr-defined]
        super().reject(requeue=requeue)
        if was_full:
            consumer.wake()


def envelope_of(value: Any) -> Envelope:
    """The envelope a socket task was sent; ValueError when `value` is not one."""
    if not isinstance(value, dict) or any(key not in value for key in ENVELOPE_KEYS):
        raise ValueError(f"the socket task's argument is not an envelope with {', '.join(ENVELOPE_KEYS)}")
    value.setdefault("tracked", False)
    return value  # type: ignore[return-value]


@app.task(
    name=TASK_NAME,
    bind=True,
    Request=SocketRequest,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    typing=False,
    max_retries=None,  # the processor's `retries` decide (handler.py), not Celery's default of 3
)
def socket(self: Task, envelope: Any, *_args: Any, **_kwargs: Any) -> None:
    context = current()
    if context is None:
        # A worker started without a processor (`celery worker` by hand): not one that can run user code.
        raise Reject("this worker serves no processor; the message stays queued", requeue=True)
    request = self.request
    queue = (request.delivery_info or {}).get("routing_key") or ""
    try:
        delivery = Delivery(
            envelope_of(envelope),
            redelivered=bool(
                (request.delivery_info or {}).get("redelivered") or getattr(request, "redelivered", False)
            ),
            size=int(getattr(request, "size", 0) or 0),
        )
    except ValueError as exc:
        # Kept for a person to look at, never run: a malformed message would fail the same way every time.
        log.error("queue %s: %s; the message is kept in its queue's quarantine list", queue, exc)
        _quarantine(queue, {"task_id": request.id, "args": [envelope], "error": str(exc)})
        return
    try:
        handle(context, delivery)
    except RetryLater as later:
        if later.lineage is not None:
            traces.record_lineage(later.lineage)
        try:
            # Celery publishes the next attempt (same task id, an ETA `countdown` seconds ahead) to this queue, and
            # acknowledges this one once that is published; the worker that takes it holds it until it is due.
            self.retry(args=(later.envelope,), countdown=later.countdown)
        except Retry:
            raise
        except Exception as exc:  # the broker refused the retry: this message goes back instead
            log.exception("message %s: its retry could not be published; put back", delivery.envelope["id"])
            raise Reject(str(exc), requeue=True) from exc
    except Reject:
        raise
    except (redis.RedisError, DatabaseError, OperationalError, AMQPConnectionError, ConnectionError) as exc:
        # Infrastructure trouble (broker or database gone for longer than the handler waits): the message goes back.
        log.exception(
            "message %s of socket %s put back: the broker or the database is unavailable",
            delivery.envelope["id"],
            delivery.envelope["socket_id"],
        )
        context.stopping.wait(INFRASTRUCTURE_PAUSE)
        raise Reject(str(exc), requeue=True) from exc
    except Exception as exc:
        # This message's own trouble: put back, it would fail again at once, for ever, ahead of every other message
        # of its queue. It goes to the dead letters with the reason instead.
        log.exception(
            "message %s of socket %s dead-lettered after an internal error",
            delivery.envelope["id"],
            delivery.envelope["socket_id"],
        )
        try:
            dead_letter_internal(delivery, exc)
        except redis.RedisError as again:
            raise Reject(str(again), requeue=True) from again
        except Exception:
            log.exception("message %s: not even its dead letter could be written; quarantined", delivery.envelope["id"])
            _quarantine(
                queue, {"task_id": request.id, "envelope_id": str(delivery.envelope.get("id")), "error": repr(exc)}
            )


def _quarantine(queue: str, record: dict[str, Any]) -> None:
    """Keep `record` in the queue's quarantine list (keys.quarantine), as ASCII JSON (lone surrogates escaped);
    whatever cannot be encoded is kept as its repr."""
    try:
        text = json.dumps(record, default=str)
    except (ValueError, RecursionError):
        text = json.dumps({key: repr(value)[:10_000] for key, value in record.items()})
    broker.patient(lambda: broker.client().rpush(keys.quarantine(queue.removeprefix("ec.")), text))
