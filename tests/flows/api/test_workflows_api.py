"""POST/GET /api/workflows/ and POST /api/flows/default/: checks, refusals and what gets published (no workers)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from flows.models import Flow
from flows.runtime import broker, keys
from tests.conftest import Demo


def depth(queue_id: Any) -> int:
    return int(broker.client().llen(keys.queue(queue_id)))


def call(socket: Any, *args: Any) -> dict[str, Any]:
    return {"call": {"socket": str(socket.pk), "args": list(args)}}


def test_a_pipeline_publishes_its_first_call_with_the_rest_as_continuation(
    demo: Demo, api: dict[str, APIClient]
) -> None:
    before = depth(demo.s1.queue_id)
    response = api["alice"].post(
        "/api/workflows/", {"workflow": {"pipeline": [call(demo.s1, "x"), call(demo.s2)]}}, format="json"
    )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "running"
    assert depth(demo.s1.queue_id) == before + 1
    entry = broker.client().lindex(keys.queue(demo.s1.queue_id), 0)
    envelope = broker.decode(entry)["envelope"]
    assert envelope["trace_id"] == response.json()["id"]
    assert envelope["payload"] == "x" and envelope["path"] == "pipeline[0]"
    assert [frame["t"] for frame in envelope["next"]] == ["then", "reply"]
    assert envelope["next"][0]["node"]["s"] == str(demo.s2.pk)

    # Nobody has answered yet: the owner sees it running, charlie sees nothing.
    workflow = response.json()["id"]
    assert api["alice"].get(f"/api/workflows/{workflow}/").status_code == 202
    assert api["charlie"].get(f"/api/workflows/{workflow}/").status_code == 404


@pytest.mark.parametrize(
    ("tree", "field", "says"),
    [
        ([], "workflow", "give one of call, pipeline, parallel, funnel"),
        ({"pipeline": [], "parallel": []}, "workflow", "as the only key"),
        ({"chain": []}, "workflow", "give one of"),
        ({"parallel": []}, "workflow.parallel", "non-empty list"),
        ({"pipeline": [{"call": {"args": [1]}}]}, "workflow.pipeline[0]", "a call is"),
        ({"pipeline": [{"call": {"socket": "nope"}}]}, "workflow.pipeline[0].socket", "not a socket id"),
        ({"call": {"socket": "S1", "args": "x"}}, "workflow.args", "as a list"),
        ({"funnel": {"parallel": [{"call": {"socket": "S1"}}]}}, "workflow", "final"),
    ],
)
def test_a_bad_tree_is_refused_with_the_path_of_the_bad_node_and_nothing_is_sent(
    demo: Demo, api: dict[str, APIClient], tree: Any, field: str, says: str
) -> None:
    tree = _with_socket(tree, str(demo.s1.pk))
    before = depth(demo.s1.queue_id)
    response = api["alice"].post("/api/workflows/", {"workflow": tree}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["fields"], error
    assert says in error["message"]
    assert depth(demo.s1.queue_id) == before


def _with_socket(tree: Any, socket_id: str) -> Any:
    if isinstance(tree, dict):
        return {k: _with_socket(v, socket_id) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_with_socket(v, socket_id) for v in tree]
    return socket_id if tree == "S1" else tree


def test_an_unknown_socket_late_in_the_tree_refuses_the_whole_tree(demo: Demo, api: dict[str, APIClient]) -> None:
    before = depth(demo.s1.queue_id)
    tree = {"parallel": [call(demo.s1, 1), {"call": {"socket": "00000000-0000-0000-0000-000000000000"}}]}
    response = api["alice"].post("/api/workflows/", {"workflow": tree}, format="json")
    assert response.status_code == 404
    assert "workflow.parallel[1].socket" in response.json()["error"]["message"]
    assert depth(demo.s1.queue_id) == before


def test_too_many_calls_or_too_deep_is_refused(demo: Demo, api: dict[str, APIClient], settings: Any) -> None:
    settings.ELASTICCODE_MAX_WORKFLOW_CALLS = 3
    response = api["alice"].post(
        "/api/workflows/", {"workflow": {"parallel": [call(demo.s1, i) for i in range(4)]}}, format="json"
    )
    assert response.status_code == 400
    assert "ELASTICCODE_MAX_WORKFLOW_CALLS" in response.json()["error"]["message"]
    deep: Any = call(demo.s1, 1)
    for _ in range(40):
        deep = {"pipeline": [deep]}
    response = api["alice"].post("/api/workflows/", {"workflow": deep}, format="json")
    assert response.status_code == 400
    assert "nested deeper than" in response.json()["error"]["message"]


def test_who_may_run_a_composition(demo: Demo, api: dict[str, APIClient]) -> None:
    body = {"workflow": call(demo.s1, 1)}
    assert api["anonymous"].post("/api/workflows/", body, format="json").status_code == 401
    # charlie may not see the socket: the same 404 as for one that does not exist.
    assert api["charlie"].post("/api/workflows/", body, format="json").status_code == 404
    # bob sees the flow but may not run its tasks.
    refused = api["bob"].post("/api/workflows/", body, format="json")
    assert refused.status_code == 403
    assert api["alice"].get("/api/workflows/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert api["alice"].get("/api/workflows/00000000-0000-0000-0000-000000000000/?wait=61").status_code == 400


def test_the_default_flow_is_made_once_and_needs_the_create_right(
    alice: Any, api: dict[str, APIClient], charlie: Any
) -> None:
    made = api["alice"].post("/api/flows/default/")
    assert made.status_code == 201
    again = api["alice"].post("/api/flows/default/")
    assert again.status_code == 200 and again.json()["id"] == made.json()["id"]
    assert Flow.objects.get(pk=made.json()["id"]).owner == alice
    assert made.json()["name"] == "default"
    refused = api["charlie"].post("/api/flows/default/")
    assert refused.status_code == 403
    assert "--flow" in refused.json()["error"]["message"]
    assert not Flow.objects.filter(owner=charlie).exists()
