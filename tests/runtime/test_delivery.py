"""Taking, acknowledging, giving back and restoring messages (flows/runtime/delivery.py), on the real Redis.

At every step a message is in exactly one place: its queue, one consumer's in-flight list, the retry set, the
quarantine, or gone because its completion acknowledged it.
"""

from __future__ import annotations

import json
import uuid

import pytest

from flows.runtime import broker, delivery, keys, traces
from flows.runtime.envelope import new_envelope
from flows.runtime.handler import retry_entry

pytestmark = pytest.mark.runtime


def publish(queue_id: str, count: int) -> list[str]:
    envelopes = [new_envelope(flow_id=str(uuid.uuid4()), socket_id=str(uuid.uuid4()), payload=n) for n in range(count)]
    broker.publish((queue_id, env) for env in envelopes)
    return [env["id"] for env in envelopes]


def ids_in(key: str) -> list[str]:
    """Envelope ids in a list, in the order they will be taken (right to left)."""
    raws = broker.client().lrange(key, 0, -1)
    return [broker.decode(raw)["envelope"]["id"] for raw in reversed(raws)]


def take(consumer_id: str, queue_id: str, count: int) -> list[delivery.Delivery]:
    inflight = keys.inflight(consumer_id, queue_id)
    return [delivery.parse(queue_id, inflight, raw) for raw in delivery.fetch(queue_id, inflight, count)]


def test_taking_moves_messages_oldest_first_into_the_consumers_in_flight_list() -> None:
    queue_id, consumer = str(uuid.uuid4()), f"c-{uuid.uuid4()}"
    ids = publish(queue_id, 5)
    taken = take(consumer, queue_id, 3)
    assert [d.envelope["id"] for d in taken] == ids[:3]
    assert not any(d.redelivered for d in taken)
    assert ids_in(keys.queue(queue_id)) == ids[3:]
    assert sorted(ids_in(keys.inflight(consumer, queue_id))) == sorted(ids[:3])
    assert len(take(consumer, queue_id, 10)) == 2
    assert take(consumer, queue_id, 10) == []


def test_waiting_takes_a_message_as_soon_as_it_arrives_and_nothing_on_timeout() -> None:
    queue_id, consumer = str(uuid.uuid4()), f"c-{uuid.uuid4()}"
    inflight = keys.inflight(consumer, queue_id)
    assert delivery.wait(queue_id, inflight, 1) is None
    [message_id] = publish(queue_id, 1)
    raw = delivery.wait(queue_id, inflight, 1)
    assert raw is not None and delivery.parse(queue_id, inflight, raw).envelope["id"] == message_id
    assert ids_in(inflight) == [message_id]


def test_completion_acknowledges_the_delivery_in_the_same_step() -> None:
    queue_id, consumer = str(uuid.uuid4()), f"c-{uuid.uuid4()}"
    publish(queue_id, 2)
    first, second = take(consumer, queue_id, 2)
    env = first.envelope
    assert traces.complete(message_id=env["id"], trace_id=env["trace_id"], tracked=False, ack=first)
    assert ids_in(keys.inflight(consumer, queue_id)) == [second.envelope["id"]]
    # A redelivered duplicate completes (and is acknowledged) without doing anything twice.
    assert not traces.complete(message_id=env["id"], trace_id=env["trace_id"], tracked=False, ack=second)
    assert ids_in(keys.inflight(consumer, queue_id)) == []


def test_a_retry_is_scheduled_and_acknowledged_together() -> None:
    queue_id, consumer = str(uuid.uuid4()), f"c-{uuid.uuid4()}"
    publish(queue_id, 1)
    [taken] = take(consumer, queue_id, 1)
    entry = retry_entry(queue_id, {**taken.envelope, "attempt": 2})  # type: ignore[typeddict-item]
    try:
        traces.retry(entry, 4102444800.0, ack=taken)  # due in 2100: the housekeepers leave it alone
        assert ids_in(keys.inflight(consumer, queue_id)) == []
        assert broker.client().zscore(keys.DELAYED, entry) == 4102444800.0
    finally:
        broker.client().zrem(keys.DELAYED, entry)


def test_giving_back_puts_a_message_first_or_last() -> None:
    queue_id, consumer = str(uuid.uuid4()), f"c-{uuid.uuid4()}"
    ids = publish(queue_id, 3)
    first, second = take(consumer, queue_id, 2)
    assert delivery.requeue(first, front=True)
    assert delivery.requeue(second, front=False)
    assert ids_in(keys.queue(queue_id)) == [ids[0], ids[2], ids[1]]
    assert not delivery.requeue(first)  # no longer in flight: nothing is duplicated


def test_a_dead_consumers_messages_go_back_in_order_flagged_as_redelivered() -> None:
    queue_a, queue_b = str(uuid.uuid4()), str(uuid.uuid4())
    dead, alive = f"dead-{uuid.uuid4()}", f"alive-{uuid.uuid4()}"
    a_ids, b_ids = publish(queue_a, 4), publish(queue_b, 2)
    delivery.beat(dead, [queue_a, queue_b])
    delivery.beat(alive, [queue_a])
    take(dead, queue_a, 3)
    take(dead, queue_b, 2)
    [held] = take(alive, queue_a, 1)
    broker.client().delete(keys.consumer_alive(dead))  # as if its TTL ran out after a SIGKILL

    assert delivery.restore_dead() >= 5
    assert ids_in(keys.queue(queue_a)) == a_ids[:3]
    assert ids_in(keys.queue(queue_b)) == b_ids
    assert broker.client().hget(keys.CONSUMERS, dead) is None
    # The living consumer keeps what it holds.
    assert ids_in(keys.inflight(alive, queue_a)) == [held.envelope["id"]] == [a_ids[3]]
    again = take(alive, queue_a, 3)
    assert [d.envelope["id"] for d in again] == a_ids[:3]
    assert all(d.redelivered for d in again)


def test_a_consumer_on_its_way_out_gives_back_what_it_has_not_run() -> None:
    queue_id, consumer = str(uuid.uuid4()), f"c-{uuid.uuid4()}"
    ids = publish(queue_id, 3)
    delivery.beat(consumer, [queue_id])
    take(consumer, queue_id, 2)
    assert delivery.restore(consumer, [queue_id]) == -1  # alive: a housekeeper leaves it alone
    assert delivery.restore(consumer, [queue_id], force=True) == 2
    assert ids_in(keys.queue(queue_id)) == ids
    assert not broker.client().exists(keys.consumer_alive(consumer))


def test_an_entry_that_is_not_an_envelope_is_quarantined_not_lost() -> None:
    queue_id, consumer = str(uuid.uuid4()), f"c-{uuid.uuid4()}"
    inflight = keys.inflight(consumer, queue_id)
    broker.client().lpush(keys.queue(queue_id), b"not json", json.dumps({"body": "e30=", "properties": {}}))
    for raw in delivery.fetch(queue_id, inflight, 5):
        with pytest.raises((ValueError, TypeError)):
            delivery.parse(queue_id, inflight, raw)
        delivery.quarantine(queue_id, inflight, raw)
    assert broker.client().llen(inflight) == 0
    assert broker.client().lrange(keys.quarantine(queue_id), 0, -1)[0] == b"not json"
