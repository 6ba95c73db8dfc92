"""The Redis transport's take (flows/runtime/redis_transport.py): a message leaves its queue only into `unacked`,
in one script, so a worker killed with the reply unread loses nothing; a waiting worker is woken by the publish,
not by its poll timeout; kombu's restore gives a taken message back as it would its own.

Found by the cluster test (a node killed with SIGKILL mid-flow) and a probe that lost 1 message in 8 kills of a busy
worker with kombu's BRPOP take."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection, Exchange, Queue

from flows.runtime import broker, keys, redis_transport
from flows.runtime.envelope import new_envelope


@pytest.fixture
def queue_id() -> Iterator[str]:
    name = str(uuid.uuid4())
    yield name
    client = broker.client()
    client.delete(keys.queue(name), redis_transport.wake(keys.queue(name)))


def connection(**options: Any) -> Connection:
    return Connection(
        settings.CELERY_BROKER_URL,
        transport_options={**settings.CELERY_BROKER_TRANSPORT_OPTIONS, **options},
    )


def publish(queue_id: str, payload: Any = 1) -> str:
    envelope = new_envelope(flow_id=str(uuid.uuid4()), socket_id=str(uuid.uuid4()), payload=payload)
    broker.publish([(queue_id, envelope)])
    return envelope["id"]


def unacked_tags(queue_id: str) -> list[str]:
    client = broker.client()
    found = []
    for tag, raw in client.hgetall("unacked").items():
        _message, _exchange, routing_key = json.loads(raw)
        if routing_key == keys.queue(queue_id):
            found.append(tag.decode())
    return found


def test_the_redis_broker_uses_this_transport() -> None:
    with connection() as conn:
        assert isinstance(conn.default_channel, redis_transport.Channel)


def test_a_worker_killed_with_the_reply_unread_loses_nothing(queue_id: str) -> None:
    """What a SIGKILL does between the take and its record: the reply never read. With kombu's BRPOP the message
    was then in no queue and not in `unacked`: gone."""
    publish(queue_id)
    with connection() as conn:
        channel = conn.default_channel
        channel.basic_consume(keys.queue(queue_id), False, lambda *a: None, "killed")
        conn.transport.cycle._register_BRPOP(channel)  # as the event loop does: the take is sent, runs on the server
        time.sleep(0.2)
        channel.client.connection.disconnect()  # killed: the reply is never read
    assert broker.depth(queue_id) == 0
    [tag] = unacked_tags(queue_id)
    # kombu's own restore (after the visibility timeout, or at a worker's restore) puts it back, redelivered.
    with connection() as conn:
        conn.default_channel.qos.restore_by_tag(tag)
    assert broker.depth(queue_id) == 1 and unacked_tags(queue_id) == []
    [entry] = broker.client().lrange(keys.queue(queue_id), 0, -1)
    assert json.loads(entry)["headers"]["redelivered"] is True


def test_a_message_taken_is_delivered_once_and_acknowledged_away(queue_id: str) -> None:
    ids = [publish(queue_id, n) for n in range(3)]
    got: list[Any] = []
    queue = Queue(keys.queue(queue_id), Exchange(""), routing_key=keys.queue(queue_id), no_declare=True)
    with connection() as conn, conn.Consumer(queue, accept=["json"], callbacks=[lambda b, m: (got.append(m), m.ack())]):
        deadline = time.monotonic() + 10
        while len(got) < 3 and time.monotonic() < deadline:
            conn.drain_events(timeout=1)
    assert [m.properties["correlation_id"] for m in got] == ids  # first in, first out
    assert unacked_tags(queue_id) == [] and broker.depth(queue_id) == 0


def test_a_waiting_worker_is_woken_by_the_publish_not_its_poll_timeout(queue_id: str) -> None:
    got: list[float] = []
    sent: list[float] = []
    queue = Queue(keys.queue(queue_id), Exchange(""), routing_key=keys.queue(queue_id), no_declare=True)
    # A poll timeout far longer than the test: only the wake token can bring the message in time.
    with (
        connection(polling_interval=60) as conn,
        conn.Consumer(queue, accept=["json"], callbacks=[lambda b, m: (got.append(time.monotonic()), m.ack())]),
    ):
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.5)  # nothing there: the channel now waits on the wake list
        threading.Timer(0.5, lambda: (sent.append(time.monotonic()), publish(queue_id))).start()
        deadline = time.monotonic() + 20
        while not got and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=1)
            except TimeoutError:
                continue
    assert got, "the waiting consumer was not woken"
    assert got[0] - sent[0] < 10  # well inside the 60 s poll timeout


def test_an_entry_no_one_can_deliver_is_kept_aside_not_lost_nor_looping(queue_id: str) -> None:
    client = broker.client()
    client.delete(redis_transport.QUARANTINE)
    client.lpush(keys.queue(queue_id), "not json")
    good = publish(queue_id)
    with connection() as conn:
        message = conn.default_channel.basic_get(keys.queue(queue_id))
        assert message.properties["correlation_id"] == good
        message.ack()
    assert client.lrange(redis_transport.QUARANTINE, 0, -1) == [b"not json"]
    client.delete(redis_transport.QUARANTINE)
