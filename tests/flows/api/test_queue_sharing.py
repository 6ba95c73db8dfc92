"""Attaching a socket to a queue consumes its messages: nobody may plug into a queue of a flow they cannot change."""

from __future__ import annotations

from typing import Any

from flows.models import Queue, Socket
from tests.conftest import client_for
from tests.factories import ProcessorFactory, make_flow, make_user


def test_a_stranger_cannot_attach_to_a_queue_feeding_someone_elses_flow(demo: Any) -> None:
    shared = Queue.objects.create(name="alice.inbox")
    demo.s2.queue = shared
    demo.s2.save()
    mallory = make_user("mallory", "CREATE")
    flow = make_flow(mallory, "mine")
    processor = ProcessorFactory(flow=flow, name="tap")
    client = client_for(mallory)

    response = client.post(
        "/api/sockets/",
        {"processor": str(processor.id), "name": "tap.in", "function": "f", "queue": "alice.inbox"},
        format="json",
    )
    assert response.status_code == 403, response.content
    assert "queue" in response.json()["error"]["fields"]

    graph = client.get(f"/api/flows/{flow.id}/graph").json()
    graph["processors"][0]["sockets"] = [{"name": "tap.in", "function": "f", "queue": "alice.inbox"}]
    response = client.put(f"/api/flows/{flow.id}/graph", graph, format="json")
    assert response.status_code == 400, response.content
    assert "processors[0].sockets[0].queue" in response.json()["error"]["fields"]
    assert not Socket.objects.filter(flow=flow).exists()


def test_the_owner_shares_a_queue_between_her_own_flows(demo: Any, alice: Any) -> None:
    demo.s2.queue = Queue.objects.create(name="alice.inbox")
    demo.s2.save()
    other = make_flow(alice, "second")
    processor = ProcessorFactory(flow=other, name="also")
    response = client_for(alice).post(
        "/api/sockets/",
        {"processor": str(processor.id), "name": "also.in", "function": "f", "queue": "alice.inbox"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["queue"] == "alice.inbox"
