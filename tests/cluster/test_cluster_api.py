"""Nodes and schedulers: created with the ADD_* rights, names unique (409), bodies strict (400 naming the field)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from backend.accounts.services import privilege_grant
from backend.cluster.models import Node, Scheduler

NODE = {"name": "node1", "hostname": "phoenix", "cpus": 8}


def create_node(client: APIClient, **overrides: Any) -> Any:
    return client.post("/api/nodes/", {**NODE, **overrides}, format="json")


def test_admin_creates_a_node_and_a_scheduler_over_it(api: dict[str, APIClient]) -> None:
    node = create_node(api["admin"])
    assert node.status_code == 201, node.content
    assert {key: node.json()[key] for key in ("name", "hostname", "cpus", "status")} == {
        "name": "node1",
        "hostname": "phoenix",
        "cpus": 8,
        "status": "offline",
    }

    scheduler = api["admin"].post("/api/schedulers/", {"name": "sched1", "nodes": ["node1"]}, format="json")

    assert scheduler.status_code == 201, scheduler.content
    assert scheduler.json()["nodes"] == ["node1"]
    assert list(Scheduler.objects.get(name="sched1").nodes.values_list("hostname", flat=True)) == ["phoenix"]
    listed = api["admin"].get("/api/schedulers/").json()["results"]
    assert [(row["name"], row["nodes"]) for row in listed] == [("sched1", ["node1"])]


def test_a_scheduler_gains_nodes_by_update(api: dict[str, APIClient]) -> None:
    create_node(api["admin"])
    create_node(api["admin"], name="node2", hostname="radiant")
    scheduler = api["admin"].post("/api/schedulers/", {"name": "sched1"}, format="json").json()

    response = api["admin"].patch(f"/api/schedulers/{scheduler['id']}/", {"nodes": ["node1", "node2"]}, format="json")

    assert response.status_code == 200, response.content
    assert sorted(response.json()["nodes"]) == ["node1", "node2"]


def test_a_duplicate_node_name_is_409(api: dict[str, APIClient]) -> None:
    assert create_node(api["admin"]).status_code == 201

    response = create_node(api["admin"], hostname="elsewhere")

    assert response.status_code == 409, response.content
    assert "already exists" in response.json()["error"]["message"]
    assert list(response.json()["error"]["fields"]) == ["name"]
    assert list(Node.objects.values_list("hostname", flat=True)) == ["phoenix"]


def test_a_duplicate_scheduler_name_is_409(api: dict[str, APIClient]) -> None:
    assert api["admin"].post("/api/schedulers/", {"name": "sched1"}, format="json").status_code == 201
    response = api["admin"].post("/api/schedulers/", {"name": "sched1"}, format="json")
    assert response.status_code == 409, response.content
    assert Scheduler.objects.count() == 1


@pytest.mark.parametrize("persona", ["bob", "charlie"])
def test_without_add_node_creating_a_node_is_403(api: dict[str, APIClient], persona: str) -> None:
    response = create_node(api[persona])

    assert response.status_code == 403, response.content
    assert "ADD_NODE" in response.json()["error"]["message"]
    assert not Node.objects.exists()


def test_alices_create_right_includes_add_node(api: dict[str, APIClient]) -> None:
    """CREATE is "create flows, queues and cluster objects" (README rights table), so alice may add a node."""
    assert create_node(api["alice"]).status_code == 201
    assert api["alice"].get("/api/nodes/").json()["results"] == []  # but seeing nodes needs a READ right


def test_add_node_right_is_enough(api: dict[str, APIClient], charlie: Any) -> None:
    privilege_grant(right="ADD_NODE", user=charlie, check=False)
    assert create_node(api["charlie"]).status_code == 201
    refused = api["charlie"].post("/api/schedulers/", {"name": "sched1"}, format="json")
    assert refused.status_code == 403, refused.content
    assert "ADD_SCHEDULER" in refused.json()["error"]["message"]


def test_without_add_node_a_taken_name_is_not_revealed(api: dict[str, APIClient]) -> None:
    assert create_node(api["admin"]).status_code == 201

    response = create_node(api["charlie"])

    assert response.status_code == 403, response.content
    assert "node1" not in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/nodes/", {**NODE, "cores": 8}),
        ("/api/schedulers/", {"name": "sched1", "strategy": "least_loaded", "node": "node1"}),
    ],
    ids=["node", "scheduler"],
)
def test_an_unknown_field_is_400_naming_it(api: dict[str, APIClient], path: str, body: dict[str, Any]) -> None:
    response = api["admin"].post(path, body, format="json")

    assert response.status_code == 400, response.content
    unknown = {"/api/nodes/": "cores", "/api/schedulers/": "node"}[path]
    assert list(response.json()["error"]["fields"]) == [unknown]
    assert response.json()["error"]["message"].startswith(f"{unknown}:")
    assert not Node.objects.exists() and not Scheduler.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "node1", "cpus": 8}, "hostname"),
        ({**NODE, "cpus": -1}, "cpus"),
        ({**NODE, "status": "online"}, None),
    ],
    ids=["no-hostname", "negative-cpus", "read-only-status"],
)
def test_invalid_node_bodies_are_400(api: dict[str, APIClient], body: dict[str, Any], field: str | None) -> None:
    response = api["admin"].post("/api/nodes/", body, format="json")
    if field is None:
        # status is reported by agents: a client's value is ignored, not stored.
        assert response.status_code == 201, response.content
        assert Node.objects.get().status == "offline"
        return
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]


def test_a_scheduler_with_an_unknown_node_is_400(api: dict[str, APIClient]) -> None:
    response = api["admin"].post("/api/schedulers/", {"name": "sched1", "nodes": ["nowhere"]}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["nodes"]
    assert not Scheduler.objects.exists()


def test_changing_and_deleting_nodes_need_their_rights(api: dict[str, APIClient], charlie: Any) -> None:
    node = Node.objects.create(name="node1", hostname="phoenix")
    privilege_grant(right="READ", user=charlie, check=False)

    patched = api["charlie"].patch(f"/api/nodes/{node.id}/", {"cpus": 2}, format="json")
    deleted = api["charlie"].delete(f"/api/nodes/{node.id}/")

    assert patched.status_code == 403, patched.content
    assert "UPDATE_NODE" in patched.json()["error"]["message"]
    assert deleted.status_code == 403, deleted.content
    assert "DELETE_NODE" in deleted.json()["error"]["message"]
    assert Node.objects.get().cpus == 1

    assert api["admin"].patch(f"/api/nodes/{node.id}/", {"cpus": 2}, format="json").json()["cpus"] == 2
    assert api["admin"].delete(f"/api/nodes/{node.id}/").status_code == 204
    assert not Node.objects.exists()
