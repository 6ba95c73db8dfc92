"""The demo flow end to end: real agent, real processor workers, real git repository, through the REST API."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from flows.models import Flow, Processor, Socket
from flows.services.demo import demo_install
from tests.runtime.conftest import Runtime

pytestmark = pytest.mark.runtime


@pytest.fixture
def demo(runtime: Runtime, any_broker: str, alice: Any, examples_repo: str) -> Flow:
    flow = demo_install(user=alice, repo_url=examples_repo)
    runtime.start_agent()
    for processor in Processor.objects.filter(flow=flow):
        runtime.wait_status(processor, "running")
    return flow


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def send(user: Any, flow: Flow, socket: str, data: Any, wait: float | None = 30) -> Any:
    sock = Socket.objects.get(flow=flow, name=socket)
    url = f"/api/sockets/{sock.pk}/messages" + (f"?wait={wait}" if wait is not None else "")
    return client_for(user).post(url, {"data": data}, format="json")


def test_result_plug_carries_the_result_to_the_sink(demo: Flow, alice: Any) -> None:
    response = send(alice, demo, "do_something", "One")
    assert response.status_code == 200, response.content
    assert response.json()["results"] == ["This: Something: One"]


def test_generator_streams_and_word_count_aggregates(demo: Flow, alice: Any) -> None:
    response = send(alice, demo, "split", "the cat\nthe dog\nthe end")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == 3  # one aggregate per line: the last one has every word
    assert max(r["words"] for r in results) == 6
    assert ["the", 3] in max(results, key=lambda r: r["words"])["top"]


def test_error_plug_takes_the_error(demo: Flow, alice: Any) -> None:
    response = send(alice, demo, "fail", {"x": 1})
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert result == "fail failed: ValueError: cannot handle {'x': 1}"


def test_fire_and_forget_answers_202_with_an_id(demo: Flow, alice: Any, runtime: Runtime) -> None:
    response = send(alice, demo, "do_something", "Two", wait=None)
    assert response.status_code == 202
    message_id = response.json()["id"]
    calls = runtime.calls(message_id, 2)
    assert {c.socket_name for c in calls} == {"do_something", "do_this"}
    assert all(c.status == "succeeded" for c in calls)


def test_lineage_tree(demo: Flow, alice: Any, runtime: Runtime) -> None:
    response = send(alice, demo, "split", "a b\nc")
    message_id = response.json()["id"]
    runtime.calls(message_id, 5)  # split, 2 counts, 2 aggregates
    tree = client_for(alice).get(f"/api/calls/{message_id}/graph").json()
    [root] = tree["roots"]
    assert root["socket_name"] == "split"
    assert [c["socket_name"] for c in root["children"]] == ["count", "count"]
    assert all(len(c["children"]) == 1 and c["children"][0]["socket_name"] == "aggregate" for c in root["children"])
    # Each step's data, as a debugger shows it (issue 16): what split was given, and the words it yielded.
    assert root["input"] == '"a b\\nc"'
    assert root["output"] == '["a b","c"]'
    assert sorted(c["input"] for c in root["children"]) == ['"a b"', '"c"']


def test_a_calls_data_preview_is_cut_at_the_preview_size(demo: Flow, alice: Any, runtime: Runtime) -> None:
    big = "x" * 5000
    response = send(alice, demo, "do_something", big, wait=None)
    [first, _] = sorted(runtime.calls(response.json()["id"], 2), key=lambda c: c.started_at)
    assert first.socket_name == "do_something"
    assert len(first.input.encode()) == 2048 + len("…".encode()) and first.input.endswith("…")
    assert first.input.startswith('"xxx') and first.output.startswith('"Something: xxx') and first.output.endswith("…")


def test_charlie_cannot_send_or_see_calls(demo: Flow, alice: Any, charlie: Any, runtime: Runtime) -> None:
    response = send(charlie, demo, "do_something", "x")
    assert response.status_code == 404
    message_id = send(alice, demo, "do_something", "y").json()["id"]
    runtime.calls(message_id, 2)
    assert client_for(charlie).get(f"/api/calls/{message_id}/graph").status_code == 404
    assert client_for(charlie).get(f"/api/calls/?trace_id={message_id}").json()["count"] == 0
