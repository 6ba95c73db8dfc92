"""Socket queues on a broker other than the platform's Redis (RabbitMQ: CELERY_BROKER_URL=amqp://…), through kombu.

The same Celery task messages as on Redis (protocol 2, JSON, task `ec.socket`), published with Celery's producer
pool to the default exchange, routed by the queue's name, persistent (delivery mode 2), onto a durable queue
declared exactly as Celery's worker declares it, with publisher confirms, so a publish that returned is on the
broker. Confirms are on for these publishes only, through connections of their own (`confirming`): set for the
whole app, they hung workers, whose event dispatcher's connection is also read by the event loop, which then took
the confirm the publishing thread was waiting for (found by the RabbitMQ back-pressure test). Nothing here is on a Redis list, so nothing can join the completion script: a hop's
children are published (and confirmed) before the script marks the hop complete (flows/runtime/traces.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from kombu import Connection, Exchange, Queue, pools

from flows.runtime import keys

T = TypeVar("T")
RETRY_POLICY = {"max_retries": 120, "interval_start": 0.1, "interval_step": 0.5, "interval_max": 1.0}


def app() -> Any:
    from backend.celery import app as celery_app

    return celery_app


@functools.cache
def confirming() -> Connection:
    """The broker connection our publishes are made through (pooled per process by kombu), with confirms on."""
    return app().connection_for_write(transport_options={"confirm_publish": True})


def queue(name: str) -> Queue:
    """The queue as Celery's worker declares a queue it was told to consume (`task_create_missing_queues`)."""
    return Queue(name, Exchange(name, "direct"), routing_key=name, durable=True)


def publish(messages: Iterable[tuple[str, dict[str, Any], dict[str, Any], str]]) -> int:
    """Publish (queue id, headers, properties, JSON body) tuples; returns, once the broker has confirmed every one,
    the bytes of the bodies (encoded once, by the caller)."""
    published = 0
    with pools.producers[confirming()].acquire(block=True) as producer:
        for queue_id, headers, properties, body in messages:
            name = keys.queue(queue_id)
            published += len(body)
            producer.publish(
                body,
                exchange="",
                routing_key=name,
                content_type="application/json",
                content_encoding="utf-8",
                headers=headers,
                delivery_mode=2,
                declare=[queue(name)],
                retry=True,
                retry_policy=RETRY_POLICY,
                **properties,
            )
    return published


def on_broker(op: Callable[[Any], T]) -> T:
    """Run `op(connection)` on a pooled broker connection, connecting again (and waiting, as a publish does, up to
    about two minutes) when the broker restarted or the connection broke."""
    for attempt in range(3):
        with app().pool.acquire(block=True) as connection:
            try:
                connection.ensure_connection(
                    max_retries=RETRY_POLICY["max_retries"], interval_start=0.1, interval_step=0.5, interval_max=1.0
                )
                return op(connection)
            except connection.connection_errors:
                connection.collect()  # drop the broken one: the next acquire connects afresh
                if attempt == 2:
                    raise
    raise AssertionError("unreachable")


def depths(queue_ids: Sequence[str]) -> list[int]:
    """Messages ready in each queue (not those taken and unacknowledged), declaring a queue not there yet."""

    def read(connection: Any) -> list[int]:
        channel = connection.default_channel
        out = []
        for queue_id in queue_ids:
            declared = queue(keys.queue(queue_id))(channel).declare()
            out.append(int(channel.queue_declare(queue=declared, passive=True).message_count))
        return out

    return on_broker(read)


def peek(queue_id: str, limit: int) -> list[Any]:
    """The next `limit` message bodies' envelopes. AMQP cannot look without taking: the messages are taken
    unacknowledged and given back when the channel closes; RabbitMQ puts them back where they were, marked
    redelivered (a worker then checks they are not already complete, which they are not)."""
    found: list[Any] = []

    def look(envelope: Any) -> bool:
        found.append(envelope)
        return False  # never acknowledged: all of them go back

    drain(queue_id, look, limit=limit)
    return found


def purge(queue_id: str) -> int:
    def empty(connection: Any) -> int:
        bound = queue(keys.queue(queue_id))(connection.default_channel)
        bound.declare()
        return int(bound.purge() or 0)

    return on_broker(empty)


def drain(queue_id: str, handle: Callable[[Any], bool], *, limit: int | None = None) -> int:
    """Offer each waiting message's envelope (up to `limit`) to `handle` once; those it handled (True) are
    acknowledged (gone from the queue), the others are given back where they were when the channel closes. How
    many were handled. A message that is not one of ours is left where it is."""

    def one_pass(connection: Any) -> int:
        handled = 0
        channel = connection.channel()
        try:
            bound = queue(keys.queue(queue_id))(channel)
            bound.declare()
            # Unacknowledged messages are not offered again on the same channel: one pass over what waits.
            seen = 0
            while (limit is None or seen < limit) and (message := bound.get(no_ack=False, accept=["json"])):
                seen += 1
                try:
                    args = message.decode()[0]
                except Exception:
                    continue
                if handle(args[0] if args else None):
                    message.ack()
                    handled += 1
        finally:
            channel.close()
        return handled

    return on_broker(one_pass)
