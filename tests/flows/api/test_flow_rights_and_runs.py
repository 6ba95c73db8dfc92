"""What the designer needs beyond the graph: the caller's rights on each flow, and run actions on a whole flow."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from backend.accounts.services import privilege_grant
from flows.models import Processor, RequestedStatus
from tests.conftest import Demo, build_demo


def test_the_flow_list_says_which_flows_open_read_only_and_why(api: dict[str, APIClient], demo: Demo) -> None:
    mine = api["alice"].get("/api/flows/").json()["results"]
    assert [(f["name"], f["rights"]["change"], f["rights"]["delete"]) for f in mine] == [("demo", True, True)]
    assert mine[0]["rights"]["reason"] == ""

    shared = api["bob"].get("/api/flows/").json()["results"]
    assert [(f["name"], f["rights"]["change"], f["rights"]["delete"]) for f in shared] == [("demo", False, False)]
    assert "ask its owner (alice)" in shared[0]["rights"]["reason"]

    assert api["charlie"].get("/api/flows/").json()["results"] == []


def test_rights_come_with_the_graph_and_the_flow(api: dict[str, APIClient], demo: Demo) -> None:
    assert api["alice"].get(f"/api/flows/{demo.flow.pk}/graph").json()["rights"]["change"] is True
    assert api["bob"].get(f"/api/flows/{demo.flow.pk}/graph").json()["rights"]["change"] is False
    assert api["bob"].get(f"/api/flows/{demo.flow.pk}/").json()["rights"]["change"] is False
    assert api["charlie"].get(f"/api/flows/{demo.flow.pk}/graph").status_code == 404


def test_a_granted_change_right_makes_the_flow_editable(api: dict[str, APIClient], demo: Demo, bob: object) -> None:
    privilege_grant(right="EDIT_FLOW", user=bob, obj=demo.flow, granted_by=demo.flow.owner)
    assert api["bob"].get(f"/api/flows/{demo.flow.pk}/graph").json()["rights"]["change"] is True


def test_the_flow_list_costs_the_same_queries_for_many_flows(
    api: dict[str, APIClient], alice: object, django_assert_max_num_queries: object
) -> None:
    for i in range(12):
        build_demo(alice, name=f"flow{i}")
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        flows = api["alice"].get("/api/flows/").json()["results"]
    assert len(flows) == 12 and all(f["rights"]["change"] for f in flows)


@pytest.mark.parametrize(
    ("action", "expected"),
    [("start", RequestedStatus.RUNNING), ("stop", RequestedStatus.STOPPED), ("pause", RequestedStatus.PAUSED)],
)
def test_a_flow_action_applies_to_every_processor(
    api: dict[str, APIClient], demo: Demo, action: str, expected: str
) -> None:
    response = api["alice"].post(f"/api/flows/{demo.flow.pk}/{action}/")

    assert response.status_code == 200, response.content
    assert {p["name"]: p["requested_status"] for p in response.json()["processors"]} == {
        "proc1": expected,
        "proc2": expected,
    }
    assert set(Processor.objects.filter(flow=demo.flow).values_list("requested_status", flat=True)) == {expected}


def test_resume_of_a_flow_resumes_only_paused_processors(api: dict[str, APIClient], demo: Demo) -> None:
    Processor.objects.filter(pk=demo.p1.pk).update(requested_status=RequestedStatus.PAUSED)
    Processor.objects.filter(pk=demo.p2.pk).update(requested_status=RequestedStatus.STOPPED)

    response = api["alice"].post(f"/api/flows/{demo.flow.pk}/resume/")

    assert response.status_code == 200, response.content
    assert Processor.objects.get(pk=demo.p1.pk).requested_status == RequestedStatus.RUNNING
    assert Processor.objects.get(pk=demo.p2.pk).requested_status == RequestedStatus.STOPPED


def test_a_flow_action_without_the_right_changes_nothing(api: dict[str, APIClient], demo: Demo) -> None:
    response = api["bob"].post(f"/api/flows/{demo.flow.pk}/start/")
    assert response.status_code == 403
    assert "may not start" in response.json()["error"]["message"]
    assert set(Processor.objects.filter(flow=demo.flow).values_list("requested_status", flat=True)) == {
        RequestedStatus.STOPPED
    }
    assert api["charlie"].post(f"/api/flows/{demo.flow.pk}/start/").status_code == 404


def test_an_empty_flow_cannot_be_started(api: dict[str, APIClient], alice: object) -> None:
    flow = api["alice"].post("/api/flows/", {"name": "empty"}, format="json").json()
    response = api["alice"].post(f"/api/flows/{flow['id']}/start/")
    assert response.status_code == 400
    assert "no processors" in response.json()["error"]["message"]
