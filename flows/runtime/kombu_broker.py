"""Socket queues on a broker other than the platform's Redis (RabbitMQ: CELERY_BROKER_URL=amqp://…), through kombu.

The same Celery task messages as on Redis (protocol 2, JSON, task `ec.socket`), published with Celery's producer
pool to the default exchange, routed by the queue's name, persistent (delivery mode 2), onto a durable queue
declared exactly as Celery's worker declares it, with publisher confirms (`confirm_publish`), so a publish that
returned is on the broker. Nothing here is on a Redis list, so nothing can join the completion script: a hop's
children are published (and confirmed) before the script marks the hop complete (flows/runtime/traces.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from kombu import Exchange, Queue

from flows.runtime import keys

RETRY_POLICY = {"max_retries": 120, "interval_start": 0.1, "interval_step": 0.5, "interval_max": 1.0}


def app() -> Any:
    from backend.celery import app as celery_app

    return celery_app


def queue(name: str) -> Queue:
    """The queue as Celery's worker declares a queue it was told to consume (`task_create_missing_queues`)."""
    return Queue(name, Exchange(name, "direct"), routing_key=name, durable=True)


def publish(messages: Iterable[tuple[str, dict[str, Any], dict[str, Any], list[Any]]]) -> None:
    """Publish (queue id, headers, properties, body) tuples; returns once the broker has confirmed every one."""
    with app().producer_or_acquire() as producer:
        for queue_id, headers, properties, body in messages:
            name = keys.queue(queue_id)
            producer.publish(
                body,
                exchange="",
                routing_key=name,
                serializer="json",
                headers=headers,
                delivery_mode=2,
                declare=[queue(name)],
                retry=True,
                retry_policy=RETRY_POLICY,
                **properties,
            )


def depths(queue_ids: Sequence[str]) -> list[int]:
    """Messages ready in each queue (not those taken and unacknowledged), declaring a queue not there yet."""
    out = []
    with app().connection_for_write() as connection:
        channel = connection.default_channel
        for queue_id in queue_ids:
            declared = queue(keys.queue(queue_id))(channel).declare()
            out.append(int(channel.queue_declare(queue=declared, passive=True).message_count))
    return out


def peek(queue_id: str, limit: int) -> list[Any]:
    """The next `limit` message bodies' envelopes. AMQP cannot look without taking: the messages are taken
    unacknowledged and given back when the channel closes; RabbitMQ puts them back where they were, marked
    redelivered (a worker then checks they are not already complete, which they are not)."""
    found: list[Any] = []
    with app().connection_for_write() as connection:
        channel = connection.channel()
        try:
            bound = queue(keys.queue(queue_id))(channel)
            bound.declare()
            for _ in range(limit):
                message = bound.get(no_ack=False, accept=["json"])
                if message is None:
                    break
                args = message.decode()[0]
                found.append(args[0] if args else None)
        finally:
            channel.close()
    return found


def purge(queue_id: str) -> int:
    with app().connection_for_write() as connection:
        bound = queue(keys.queue(queue_id))(connection.default_channel)
        bound.declare()
        return int(bound.purge() or 0)


def drain(queue_id: str, handle: Callable[[Any], bool]) -> int:
    """Offer every waiting message's envelope to `handle` once; those it handled (True) are acknowledged (gone from
    the queue), the others are given back where they were when the channel closes. How many were handled."""
    handled = 0
    with app().connection_for_write() as connection:
        channel = connection.channel()
        try:
            bound = queue(keys.queue(queue_id))(channel)
            bound.declare()
            # Unacknowledged messages are not offered again on the same channel: one pass over what waits.
            while (message := bound.get(no_ack=False, accept=["json"])) is not None:
                try:
                    args = message.decode()[0]
                    envelope = args[0] if args else None
                except Exception:
                    continue
                if handle(envelope):
                    message.ack()
                    handled += 1
        finally:
            channel.close()
    return handled
