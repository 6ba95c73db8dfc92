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


def names(client: Any) -> set[str]:
    return {queue["name"] for queue in client.get("/api/queues/").json()["results"]}


def test_a_queue_made_before_any_socket_uses_it_is_its_makers_until_a_flow_takes_it(
    demo: Any, alice: Any, bob: Any, charlie: Any
) -> None:
    mine = client_for(alice)
    made = mine.post("/api/queues/", {"name": "alice.spare"}, format="json")
    assert made.status_code == 201, made.content
    spare = made.json()["id"]
    assert "alice.spare" in names(mine)
    assert "alice.spare" not in names(client_for(bob)) | names(client_for(charlie))
    assert client_for(charlie).get(f"/api/queues/{spare}/").status_code == 404
    tuned = mine.patch(f"/api/queues/{spare}/", {"max_length": 50}, format="json")
    assert tuned.status_code == 200, tuned.content
    assert tuned.json()["max_length"] == 50

    # Someone else's flow reads from it now: its messages are that flow's, and alice no longer sees them.
    mallory = make_user("mallory", "CREATE")
    theirs = ProcessorFactory(flow=make_flow(mallory, "theirs"), name="tap")
    attached = client_for(mallory).post(
        "/api/sockets/",
        {"processor": str(theirs.id), "name": "tap.in", "function": "f", "queue": "alice.spare"},
        format="json",
    )
    assert attached.status_code == 201, attached.content
    assert "alice.spare" not in names(mine)
    assert "alice.spare" in names(client_for(mallory))
    assert mine.get(f"/api/queues/{spare}/messages").status_code == 404


def test_the_maker_deletes_an_unused_queue_without_the_delete_queue_right(alice: Any, charlie: Any) -> None:
    mine = client_for(alice)
    spare = mine.post("/api/queues/", {"name": "alice.spare"}, format="json").json()["id"]
    other = Queue.objects.create(name="someone.elses")
    assert not alice.has_perm("flows.delete_queue")

    refused = mine.delete(f"/api/queues/{other.id}/")
    assert refused.status_code == 404, refused.content  # not hers: not even visible
    assert client_for(charlie).delete(f"/api/queues/{spare}/").status_code == 404
    assert mine.delete(f"/api/queues/{spare}/").status_code == 204
    assert not Queue.objects.filter(name="alice.spare").exists()
