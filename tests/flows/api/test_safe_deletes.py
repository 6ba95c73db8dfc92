"""Issue 14, case 6: deleting a socket, processor or flow (or dropping sockets in a graph PUT, or a queue) never
strands a message. With messages waiting the delete answers 409 saying how many; forced, they move to the flow
owner's dead-letter archive, whoever waits on one hears of it, and no Redis key of the deleted sockets remains.

transactional_db: the archive moves when the delete commits (transaction.on_commit).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from flows.models import Flow, Processor, Queue, Socket
from flows.runtime import archive, broker, handler, keys
from flows.runtime.context import WorkerContext
from flows.runtime.envelope import Envelope, new_envelope
from flows.runtime.executor import Limits
from flows.services import messages as message_services
from tests.conftest import Demo
from tests.flows.api.test_bad_input import error_of


@pytest.fixture
def clean_redis(transactional_db: Any) -> Any:
    broker.client().flushdb()
    yield
    broker.client().flushdb()


def queue_up(socket: Socket, count: int, **fields: Any) -> list[Envelope]:
    envelopes = [
        new_envelope(flow_id=str(socket.flow_id), socket_id=str(socket.pk), payload=n, **fields) for n in range(count)
    ]
    broker.publish((str(socket.queue_id), envelope) for envelope in envelopes)
    return envelopes


def dead_letter(socket: Socket) -> Envelope:
    envelope = new_envelope(flow_id=str(socket.flow_id), socket_id=str(socket.pk), payload="died")
    broker.client().rpush(keys.dead_letters(socket.pk), json.dumps({"error": "boom", "envelope": envelope}))
    return envelope


def retrying(socket: Socket) -> Envelope:
    envelope = new_envelope(flow_id=str(socket.flow_id), socket_id=str(socket.pk), payload="again")
    entry = handler.retry_entry(str(socket.queue_id), envelope)
    broker.client().zadd(keys.DELAYED, {entry: time.time() + 3600})
    return envelope


def keys_naming(*ids: object) -> list[str]:
    names = [key.decode() for key in broker.client().scan_iter(count=1000)]
    return sorted(name for name in names if any(str(i) in name for i in ids))


def archived(api: APIClient) -> list[dict[str, Any]]:
    answer = api.get("/api/archive/?limit=1000")
    assert answer.status_code == 200, answer.content
    return list(answer.json()["results"])


def test_deleting_a_socket_with_waiting_messages_answers_409_saying_how_many(
    api: dict[str, APIClient], demo: Demo, clean_redis: None
) -> None:
    queue_up(demo.s1, 3)
    retrying(demo.s1)

    response = api["alice"].delete(f"/api/sockets/{demo.s1.pk}/")

    error = error_of(response, 409)
    assert error["waiting"] == 4 and "3 queued, 1 to retry" in error["message"] and "force=true" in error["message"]
    assert Socket.objects.filter(pk=demo.s1.pk).exists()
    assert broker.client().llen(keys.queue(demo.s1.queue_id)) == 3


def test_a_forced_delete_archives_every_message_and_leaves_no_key(
    api: dict[str, APIClient], demo: Demo, clean_redis: None
) -> None:
    socket = demo.s1
    queued = queue_up(socket, 3)
    died = dead_letter(socket)
    again = retrying(socket)
    broker.client().set(keys.schedule_due(socket.pk), "{}")
    broker.client().set(keys.schedule_slot(socket.pk, time.time()), "1", ex=3600)

    response = api["alice"].delete(f"/api/sockets/{socket.pk}/?force=true")

    assert response.status_code == 204, response.content
    records = archived(api["alice"])
    states = {record["id"]: record["state"] for record in records}
    assert states == {**{e["id"]: "queued" for e in queued}, died["id"]: "dead", again["id"]: "retrying"}
    assert all(r["socket"]["name"] == socket.name and r["flow"]["name"] == "demo" for r in records)
    assert next(r for r in records if r["id"] == died["id"])["error"]["error"] == "boom"
    assert keys_naming(socket.pk, socket.queue_id) == []
    assert broker.client().zcard(keys.DELAYED) == 0


def test_nobody_else_sees_the_archive(api: dict[str, APIClient], demo: Demo, clean_redis: None) -> None:
    queue_up(demo.s1, 2)
    assert api["alice"].delete(f"/api/sockets/{demo.s1.pk}/?force=true").status_code == 204

    assert len(archived(api["alice"])) == 2
    assert archived(api["bob"]) == [] and archived(api["charlie"]) == []
    assert api["charlie"].delete("/api/archive/").json() == {"purged": 0}
    assert len(archived(api["alice"])) == 2


def test_the_owner_deletes_one_archived_message_or_purges_them_all(
    api: dict[str, APIClient], demo: Demo, clean_redis: None
) -> None:
    first, second, third = queue_up(demo.s1, 3)
    api["alice"].delete(f"/api/sockets/{demo.s1.pk}/?force=true")

    assert api["alice"].delete(f"/api/archive/{second['id']}").status_code == 204  # the slash is optional
    error_of(api["alice"].delete(f"/api/archive/{second['id']}/"), 404)
    assert {r["id"] for r in archived(api["alice"])} == {first["id"], third["id"]}
    assert api["alice"].delete("/api/archive").json() == {"purged": 2}
    assert archived(api["alice"]) == []


@pytest.mark.parametrize("what", ["flow", "processor", "graph"])
def test_flows_processors_and_graph_puts_follow_the_same_rule(
    api: dict[str, APIClient], demo: Demo, clean_redis: None, what: str
) -> None:
    queue_up(demo.s2, 2)
    doc = api["alice"].get(f"/api/flows/{demo.flow.pk}/graph").json()
    doc["processors"] = [p for p in doc["processors"] if p["id"] != str(demo.p2.pk)]
    doc["plugs"] = []

    def attempt(force: str) -> Any:
        if what == "flow":
            return api["alice"].delete(f"/api/flows/{demo.flow.pk}/{force}")
        if what == "processor":
            return api["alice"].delete(f"/api/processors/{demo.p2.pk}/{force}")
        return api["alice"].put(f"/api/flows/{demo.flow.pk}/graph{force}", doc, format="json")

    assert error_of(attempt(""), 409)["waiting"] == 2
    assert Processor.objects.filter(pk=demo.p2.pk).exists()

    assert attempt("?force=true").status_code in (200, 204)

    assert not Processor.objects.filter(pk=demo.p2.pk).exists()
    assert len(archived(api["alice"])) == 2
    assert keys_naming(demo.s2.pk, demo.s2.queue_id) == []
    if what == "flow":
        assert not Flow.objects.filter(pk=demo.flow.pk).exists()


def test_a_timed_out_call_says_which_processors_do_not_run(
    api: dict[str, APIClient], demo: Demo, clean_redis: None
) -> None:
    Processor.objects.filter(pk=demo.p2.pk).update(status="error", status_message="installing failed: no such module")

    response = api["alice"].post(f"/api/sockets/{demo.s1.pk}/messages?wait=0.2", {"data": 1}, format="json")

    error = error_of(response, 504)
    assert "proc2 is error (installing failed: no such module)" in error["message"]
    assert [p["name"] for p in error["processors"]] == ["proc1", "proc2"]  # proc1 is stopped: not started yet


def test_a_delete_with_only_dead_letters_is_not_refused_and_keeps_them(
    api: dict[str, APIClient], demo: Demo, clean_redis: None
) -> None:
    died = dead_letter(demo.s1)

    assert api["alice"].delete(f"/api/sockets/{demo.s1.pk}/").status_code == 204

    assert [r["id"] for r in archived(api["alice"])] == [died["id"]]


def test_a_caller_waiting_on_an_archived_message_hears_of_it_at_once(
    alice: Any, demo: Demo, clean_redis: None, api: dict[str, APIClient]
) -> None:
    answers: list[dict[str, Any]] = []
    waiter = threading.Thread(
        target=lambda: answers.append(message_services.message_send(user=alice, socket=demo.s1, data="waits", wait=30))
    )
    waiter.start()
    deadline = time.monotonic() + 10
    while not broker.client().llen(keys.queue(demo.s1.queue_id)) and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()

    assert api["alice"].delete(f"/api/sockets/{demo.s1.pk}/?force=true").status_code == 204
    waiter.join(15)

    assert time.monotonic() - started < 5  # not the 30 s of a timeout
    [answer] = answers
    assert answer["error"]["error_type"] == "SocketDeleted" and "archive" in answer["error"]["error"]


def test_messages_arriving_after_the_delete_join_the_archive(
    api: dict[str, APIClient], demo: Demo, clean_redis: None, tmp_path: Any
) -> None:
    """A worker routing with a topology a second old, or giving back what it held, after the delete."""
    socket = demo.s1
    assert api["alice"].delete(f"/api/sockets/{socket.pk}/?force=true").status_code == 204
    late_in_queue, taken_by_a_worker = queue_up(socket, 2)

    # The housekeeping sweep finds the one left in the old queue ...
    raw = broker.client().rpop(keys.queue(socket.queue_id))  # taken by a worker (kombu pops from the right)
    archive.sweep()
    # ... and a worker that took the other one archives it when it finds the socket gone.
    limits = Limits(memory_mb=512, cpu_seconds=10, open_files=64, capture_bytes=1024)
    context = WorkerContext(processor_id="p", name="w", python="python3", module="m", workdir=tmp_path, limits=limits)
    handler.handle(context, handler.Delivery(broker.decode(raw)["envelope"]))

    assert {r["id"] for r in archived(api["alice"])} == {late_in_queue["id"], taken_by_a_worker["id"]}
    assert keys_naming(socket.pk, socket.queue_id) == []


def test_deleting_a_queue_with_messages_in_it_follows_the_rule_too(
    api: dict[str, APIClient], clean_redis: None, admin_user: Any
) -> None:
    api["alice"].post("/api/queues/", {"name": "orphans"}, format="json")
    queue = Queue.objects.get(name="orphans")
    broker.publish(
        [(str(queue.pk), new_envelope(flow_id="f", socket_id="00000000-0000-4000-8000-000000000000", payload=1))]
    )

    error_of(api["admin"].delete(f"/api/queues/{queue.pk}/"), 409)
    assert api["admin"].delete(f"/api/queues/{queue.pk}/?force=true").status_code == 204

    assert len(archived(api["admin"])) == 1
    assert keys_naming(queue.pk) == []


def test_a_socket_moving_to_another_queue_takes_its_messages_along(
    api: dict[str, APIClient], demo: Demo, clean_redis: None
) -> None:
    old_queue = demo.s1.queue_id
    waiting = queue_up(demo.s1, 3)

    response = api["alice"].patch(f"/api/sockets/{demo.s1.pk}/", {"queue": "shared.q"}, format="json")

    assert response.status_code == 200, response.content
    new_queue = Socket.objects.get(pk=demo.s1.pk).queue_id
    raws = broker.client().lrange(keys.queue(new_queue), 0, -1)
    assert [broker.decode(raw)["envelope"]["id"] for raw in reversed(raws)] == [e["id"] for e in waiting]
    assert keys_naming(old_queue) == []
