"""Run actions set what should run (requested_status); edits of processors, sockets and plugs bump the flow version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from flows.models import Flow, Plug, Processor, RequestedStatus, Socket
from flows.services.processors import processor_request, processor_update
from tests.conftest import Demo


def act(api: dict[str, APIClient], processor: Processor, action: str, who: str = "alice") -> Any:
    return api[who].post(f"/api/processors/{processor.pk}/{action}")


def version(flow: Flow) -> int:
    return Flow.objects.get(pk=flow.pk).version


@pytest.mark.parametrize(
    ("action", "before", "after"),
    [
        ("start", RequestedStatus.STOPPED, RequestedStatus.RUNNING),
        ("stop", RequestedStatus.RUNNING, RequestedStatus.STOPPED),
        ("pause", RequestedStatus.RUNNING, RequestedStatus.PAUSED),
        ("resume", RequestedStatus.PAUSED, RequestedStatus.RUNNING),
        ("restart", RequestedStatus.RUNNING, RequestedStatus.RUNNING),
        ("restart", RequestedStatus.STOPPED, RequestedStatus.RUNNING),
    ],
)
def test_an_action_sets_the_requested_status(
    api: dict[str, APIClient], demo: Demo, action: str, before: str, after: str
) -> None:
    Processor.objects.filter(pk=demo.p1.pk).update(requested_status=before)
    flow_version = version(demo.flow)

    response = act(api, demo.p1, action)

    assert response.status_code == 200, response.content
    assert response.json()["requested_status"] == after
    processor = Processor.objects.get(pk=demo.p1.pk)
    assert processor.requested_status == after
    # Only what was asked for: the agent reports `status`, and the other processor is untouched.
    assert processor.status == demo.p1.status
    assert Processor.objects.get(pk=demo.p2.pk).requested_status == demo.p2.requested_status
    # Running state is not part of the graph.
    assert version(demo.flow) == flow_version
    if action != "restart":
        assert processor.restart_requested_at is None


def test_restart_records_when_it_was_asked_for(api: dict[str, APIClient], demo: Demo) -> None:
    Processor.objects.filter(pk=demo.p1.pk).update(requested_status=RequestedStatus.RUNNING)
    asked = timezone.now()

    first = act(api, demo.p1, "restart")
    first_at = Processor.objects.get(pk=demo.p1.pk).restart_requested_at
    second = act(api, demo.p1, "restart")

    assert (first.status_code, second.status_code) == (200, 200)
    assert first_at is not None and first_at >= asked
    # Each restart is a new request: the agent restarts workers started before the latest one.
    assert Processor.objects.get(pk=demo.p1.pk).restart_requested_at > first_at


@pytest.mark.parametrize("requested", [RequestedStatus.STOPPED, RequestedStatus.RUNNING])
def test_resuming_a_processor_that_is_not_paused_answers_409(
    api: dict[str, APIClient], demo: Demo, requested: str
) -> None:
    Processor.objects.filter(pk=demo.p1.pk).update(requested_status=requested)

    response = act(api, demo.p1, "resume")

    assert response.status_code == 409, response.content
    assert "not paused" in response.json()["error"]["message"]
    assert Processor.objects.get(pk=demo.p1.pk).requested_status == requested


@pytest.mark.parametrize("action", ["start", "stop", "pause", "resume", "restart"])
def test_a_viewer_may_not_act_and_a_stranger_gets_404(api: dict[str, APIClient], demo: Demo, action: str) -> None:
    Processor.objects.filter(pk=demo.p1.pk).update(requested_status=RequestedStatus.PAUSED)

    assert act(api, demo.p1, action, "bob").status_code == 403
    assert act(api, demo.p1, action, "charlie").status_code == 404
    processor = Processor.objects.get(pk=demo.p1.pk)
    assert (processor.requested_status, processor.restart_requested_at) == (RequestedStatus.PAUSED, None)


def test_editing_a_processor_does_not_undo_an_action_taken_meanwhile(alice: Any, demo: Demo) -> None:
    stale = Processor.objects.get(pk=demo.p1.pk)  # loaded by one request...
    processor_request(user=alice, processor=demo.p1, action="start")  # ...while another one starts it

    processor_update(user=alice, processor=stale, data={"concurrency": 4})

    processor = Processor.objects.get(pk=demo.p1.pk)
    assert (processor.concurrency, processor.requested_status) == (4, RequestedStatus.RUNNING)


PROCESSOR = {"name": "proc3", "git_url": "file:///srv/repos/sample.git", "module": "sample.functions"}

EDITS: dict[str, Callable[[APIClient, Demo], Any]] = {
    "create processor": lambda client, demo: client.post(
        "/api/processors/", {**PROCESSOR, "flow": str(demo.flow.pk)}, format="json"
    ),
    "update processor": lambda client, demo: client.patch(
        f"/api/processors/{demo.p1.pk}/", {"concurrency": 3}, format="json"
    ),
    "replace processor": lambda client, demo: client.put(
        f"/api/processors/{demo.p1.pk}/", {**PROCESSOR, "name": "proc1", "ref": "v2"}, format="json"
    ),
    "delete processor": lambda client, demo: client.delete(f"/api/processors/{demo.p2.pk}/"),
    "create socket": lambda client, demo: client.post(
        "/api/sockets/", {"processor": str(demo.p1.pk), "name": "demo.proc1.more", "function": "more"}, format="json"
    ),
    "update socket": lambda client, demo: client.patch(
        f"/api/sockets/{demo.s1.pk}/", {"function": "do_more"}, format="json"
    ),
    "delete socket": lambda client, demo: client.delete(f"/api/sockets/{demo.s2.pk}/"),
    "create plug": lambda client, demo: client.post(
        "/api/plugs/", {"source": str(demo.s1.pk), "target": str(demo.s2.pk), "kind": "error"}, format="json"
    ),
    "update plug": lambda client, demo: client.patch(
        f"/api/plugs/{demo.plug.pk}/", {"argument": "payload"}, format="json"
    ),
    "delete plug": lambda client, demo: client.delete(f"/api/plugs/{demo.plug.pk}/"),
}

EFFECTS: dict[str, Callable[[Demo], bool]] = {
    "create processor": lambda demo: Processor.objects.filter(flow=demo.flow, name="proc3").exists(),
    "update processor": lambda demo: Processor.objects.get(pk=demo.p1.pk).concurrency == 3,
    "replace processor": lambda demo: Processor.objects.get(pk=demo.p1.pk).ref == "v2",
    "delete processor": lambda demo: not Processor.objects.filter(pk=demo.p2.pk).exists(),
    "create socket": lambda demo: Socket.objects.filter(flow=demo.flow, name="demo.proc1.more").exists(),
    "update socket": lambda demo: Socket.objects.get(pk=demo.s1.pk).function == "do_more",
    "delete socket": lambda demo: not Socket.objects.filter(pk=demo.s2.pk).exists(),
    "create plug": lambda demo: Plug.objects.filter(flow=demo.flow, kind="error").exists(),
    "update plug": lambda demo: Plug.objects.get(pk=demo.plug.pk).argument == "payload",
    "delete plug": lambda demo: not Plug.objects.filter(pk=demo.plug.pk).exists(),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_each_edit_bumps_the_flow_version_once(api: dict[str, APIClient], demo: Demo, edit: str) -> None:
    before = version(demo.flow)

    response = EDITS[edit](api["alice"], demo)

    assert response.status_code in {200, 201, 204}, response.content
    assert EFFECTS[edit](demo)
    assert version(demo.flow) == before + 1


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edit_a_viewer_may_not_make_leaves_the_version_alone(
    api: dict[str, APIClient], demo: Demo, edit: str
) -> None:
    before = version(demo.flow)

    response = EDITS[edit](api["bob"], demo)

    assert response.status_code in {403, 404}, response.content
    assert not EFFECTS[edit](demo)
    assert version(demo.flow) == before
