"""Socket queues on RabbitMQ (CELERY_BROKER_URL=amqp://…) through the API, with no worker: what waits is counted,
shown, moved with its socket, purged and archived on a forced delete, as on Redis (test_safe_deletes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from flows.models import Queue, Socket
from flows.runtime import broker
from flows.runtime.envelope import Envelope, new_envelope
from tests.conftest import Demo
from tests.rabbitmq import rabbitmq  # noqa: F401 - fixture
from tests.runtime.conftest import broker_url


@pytest.fixture
def on_rabbitmq(rabbitmq: str, settings: Any, transactional_db: Any) -> Iterator[None]:  # noqa: F811
    """Transactional: the archive and the moves run when the delete's transaction commits."""
    with broker_url(settings, rabbitmq):
        assert not broker.on_redis()
        yield


def queue_up(socket: Socket, count: int) -> list[Envelope]:
    envelopes = [new_envelope(flow_id=str(socket.flow_id), socket_id=str(socket.pk), payload=n) for n in range(count)]
    broker.publish((str(socket.queue_id), envelope) for envelope in envelopes)
    return envelopes


def test_waiting_messages_are_counted_peeked_and_left_in_order(
    api: dict[str, APIClient], demo: Demo, on_rabbitmq: None
) -> None:
    queued = queue_up(demo.s1, 4)
    first = api["alice"].get(f"/api/queues/{demo.s1.queue_id}/messages?limit=3").json()
    again = api["alice"].get(f"/api/queues/{demo.s1.queue_id}/messages?limit=3").json()
    assert first["depth"] == again["depth"] == 4
    assert [m["id"] for m in first["messages"]] == [m["id"] for m in again["messages"]] == [e["id"] for e in queued[:3]]
    refused = api["alice"].delete(f"/api/sockets/{demo.s1.pk}/")
    assert refused.status_code == 409 and refused.json()["error"]["waiting"] == 4
    assert broker.depth(str(demo.s1.queue_id)) == 4


def test_a_forced_delete_archives_what_waits_and_a_purge_empties_a_queue(
    api: dict[str, APIClient], demo: Demo, on_rabbitmq: None
) -> None:
    queued = queue_up(demo.s1, 3)
    api["alice"].delete("/api/archive/")
    assert api["alice"].delete(f"/api/sockets/{demo.s1.pk}/?force=true").status_code == 204
    records = api["alice"].get("/api/archive/?limit=100").json()["results"]
    assert {r["id"] for r in records} == {e["id"] for e in queued}
    assert {r["state"] for r in records} == {"queued"}
    assert broker.depth(str(demo.s1.queue_id)) == 0

    queue_up(demo.s2, 2)
    answer = api["alice"].delete(f"/api/queues/{demo.s2.queue_id}/messages")
    assert answer.status_code in (200, 204), answer.content
    assert broker.depth(str(demo.s2.queue_id)) == 0


def test_a_socket_moving_to_another_queue_takes_its_messages_along(
    api: dict[str, APIClient], demo: Demo, on_rabbitmq: None
) -> None:
    queued = queue_up(demo.s2, 3)
    Queue.objects.create(name="alice.elsewhere")
    answer = api["alice"].patch(f"/api/sockets/{demo.s2.pk}/", {"queue": "alice.elsewhere"}, format="json")
    assert answer.status_code == 200, answer.content
    moved = Queue.objects.get(name="alice.elsewhere")
    assert broker.depth(str(moved.pk)) == 3
    assert [e["id"] for e in broker.peek(str(moved.pk), 10)] == [e["id"] for e in queued]
    assert broker.depth(str(demo.s2.queue_id)) == 0
