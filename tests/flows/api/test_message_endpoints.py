"""Who may send messages, peek, purge, read and replay dead letters, and read call trees (no workers needed:
these checks answer before anything reaches a queue)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flows.models import Call
from flows.runtime import broker, keys
from flows.runtime.envelope import new_envelope
from tests.conftest import Demo

pytestmark = pytest.mark.django_db


def test_charlie_sees_none_of_it(demo: Demo, api: dict[str, Any]) -> None:
    charlie = api["charlie"]
    queue = demo.s2.queue_id
    assert charlie.post(f"/api/sockets/{demo.s1.pk}/messages", {"data": 1}, format="json").status_code == 404
    assert charlie.get(f"/api/queues/{queue}/messages").status_code == 404
    assert charlie.delete(f"/api/queues/{queue}/messages").status_code == 404
    assert charlie.get(f"/api/queues/{queue}/dead-letters").status_code == 404
    assert charlie.post(f"/api/queues/{queue}/dead-letters/replay", {}, format="json").status_code == 404


def test_bob_may_look_but_not_send_purge_or_replay(demo: Demo, api: dict[str, Any]) -> None:
    bob = api["bob"]
    queue = demo.s2.queue_id
    envelope = new_envelope(flow_id=str(demo.flow.pk), socket_id=str(demo.s2.pk), payload={"n": 1})
    broker.publish([(str(queue), envelope)])
    broker.client().rpush(keys.dead_letters(demo.s2.pk), json.dumps({"envelope": envelope, "error": "E: x"}))
    sent = bob.post(f"/api/sockets/{demo.s1.pk}/messages", {"data": 1}, format="json")
    assert sent.status_code == 403 and "send messages" in sent.json()["error"]["message"]
    peek = bob.get(f"/api/queues/{queue}/messages").json()
    assert peek["depth"] == 1 and peek["messages"][0]["id"] == envelope["id"]
    assert bob.get(f"/api/queues/{queue}/dead-letters").json()["count"] == 1
    assert bob.delete(f"/api/queues/{queue}/messages").status_code == 403
    assert bob.post(f"/api/queues/{queue}/dead-letters/replay", {}, format="json").status_code == 403
    assert broker.client().llen(keys.queue(queue)) == 1  # nothing was taken
    purged = api["alice"].delete(f"/api/queues/{queue}/messages")
    assert purged.status_code == 200 and purged.json() == {"purged": 1}


def test_bad_message_input(demo: Demo, api: dict[str, Any]) -> None:
    alice = api["alice"]
    url = f"/api/sockets/{demo.s1.pk}/messages"
    unknown = alice.post(url, {"payload": 1}, format="json")
    assert unknown.status_code == 400 and "expected one of: args, data" in str(unknown.json()["error"]["fields"])
    missing = alice.post(url, {}, format="json")
    assert missing.status_code == 400 and "data" in missing.json()["error"]["fields"]
    bad_wait = alice.post(url + "?wait=nope", {"data": 1}, format="json")
    assert bad_wait.status_code == 400 and "wait" in bad_wait.json()["error"]["fields"]
    bad_ids = alice.post(f"/api/queues/{demo.s2.queue_id}/dead-letters/replay", {"ids": ["x"]}, format="json")
    assert bad_ids.status_code == 400


def test_call_tree_hides_calls_of_flows_you_cannot_see(demo: Demo, api: dict[str, Any]) -> None:
    root = Call.objects.create(trace_id="00000000-0000-4000-8000-000000000001", socket=demo.s1, status="succeeded")
    Call.objects.create(trace_id=root.trace_id, parent_id=root.pk, socket=demo.s2, status="succeeded")
    tree = api["bob"].get(f"/api/calls/{root.pk}/graph").json()
    assert tree["calls"] == 2 and tree["roots"][0]["children"][0]["socket"] == str(demo.s2.pk)
    assert api["charlie"].get(f"/api/calls/{root.pk}/graph").status_code == 404


def test_a_sent_message_that_has_not_run_yet_says_so_not_that_it_does_not_exist(
    demo: Demo, api: dict[str, Any]
) -> None:
    """Found by a newcomer: the id a send answers led to a 404 "does not exist" while the processor was stopped. It
    is still a 404 (no call yet, and the same for one you may not see), but it says why and where to look."""
    sent = api["alice"].post(f"/api/sockets/{demo.s1.pk}/messages", {"data": 1}, format="json").json()["id"]
    for path in (f"/api/calls/{sent}/", f"/api/calls/{sent}/graph"):
        error = api["alice"].get(path).json()["error"]
        assert "has run" in error["message"] and "/api/calls/?trace_id=" in error["message"], error
        assert api["charlie"].get(path).json() == api["alice"].get(path).json()


def test_a_flows_runs_list_its_traces_with_their_status_newest_first(demo: Demo, api: dict[str, Any]) -> None:
    """The designer's Runs panel (issue 16) reads lineage: one run per message sent in, failed when any of its calls
    failed for good, running while any is in progress."""
    import datetime as dt
    import uuid

    now = dt.datetime.now(dt.UTC)

    def run(status_of_child: str, minutes_ago: int) -> str:
        root = uuid.uuid4()
        started = now - dt.timedelta(minutes=minutes_ago)
        Call.objects.create(
            id=root,
            trace_id=root,
            flow=demo.flow,
            socket=demo.s1,
            socket_name=demo.s1.name,
            status="succeeded",
            started_at=started,
            finished_at=started + dt.timedelta(milliseconds=5),
        )
        Call.objects.create(
            trace_id=root,
            parent_id=root,
            flow=demo.flow,
            socket=demo.s2,
            status=status_of_child,
            started_at=started + dt.timedelta(milliseconds=6),
            finished_at=started + dt.timedelta(milliseconds=40),
        )
        return str(root)

    # Its error went along an error plug: handled, neither a failure of the run nor a plain success (two designers
    # misread it, one way and then the other).
    handled = run("failed", 4)
    ok, failed, running = run("succeeded", 3), run("dead", 2), run("retrying", 1)
    answer = api["bob"].get(f"/api/flows/{demo.flow.pk}/runs/")
    assert answer.status_code == 200, answer.content
    runs = answer.json()["runs"]
    assert [(r["trace_id"], r["status"]) for r in runs] == [
        (running, "running"),
        (failed, "failed"),
        (ok, "succeeded"),
        (handled, "handled"),
    ]
    assert runs[3]["handled_calls"] == 1 and runs[3]["failed_calls"] == 0
    assert runs[2]["calls"] == 2 and runs[2]["socket_name"] == demo.s1.name and round(runs[2]["duration_ms"]) == 40
    assert runs[1]["failed_calls"] == 1 and runs[1]["input"] == ""  # rows made here keep no preview
    only = api["bob"].get(f"/api/flows/{demo.flow.pk}/runs/?status=failed").json()["runs"]
    assert [r["trace_id"] for r in only] == [failed]
    handled_only = api["bob"].get(f"/api/flows/{demo.flow.pk}/runs/?status=handled").json()["runs"]
    assert [r["trace_id"] for r in handled_only] == [handled]
    assert api["bob"].get(f"/api/flows/{demo.flow.pk}/runs/?status=nope").status_code == 400
    assert api["charlie"].get(f"/api/flows/{demo.flow.pk}/runs/").status_code == 404
