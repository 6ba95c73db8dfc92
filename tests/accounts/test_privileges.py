"""Granting and revoking rights (POST/DELETE /api/privileges/), and what a grant or revoke changes for its holder."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from backend.accounts.models import Privilege
from backend.accounts.services import privilege_grant, privilege_revoke
from flows.models import Processor
from tests.conftest import Demo

User = get_user_model()

# The seed's rights list (shared/seeds/003, "Security Model"), written out so the test stands without the seed.
SEED_RIGHTS = [
    "ALL",
    "CREATE",
    "READ",
    "UPDATE",
    "DELETE",
    "DB_DROP",
    "DB_INIT",
    "START_AGENT",
    "RUN_TASK",
    "CANCEL_TASK",
    "UPDATE_PROCESSOR",
    "DELETE_PROCESSOR",
    "START_PROCESSOR",
    "STOP_PROCESSOR",
    "PAUSE_PROCESSOR",
    "RESUME_PROCESSOR",
    "LOCK_PROCESSOR",
    "UNLOCK_PROCESSOR",
    "VIEW_PROCESSOR",
    "VIEW_PROCESSOR_CONFIG",
    "VIEW_PROCESSOR_CODE",
    "EDIT_PROCESSOR_CONFIG",
    "EDIT_PROCESSOR_CODE",
    "LS_PROCESSORS",
    "LS_USERS",
    "LS_USER",
    "LS_PLUGS",
    "LS_SOCKETS",
    "LS_QUEUES",
    "LS_AGENTS",
    "LS_NODES",
    "LS_SCHEDULERS",
    "LS_WORKERS",
    "ADD_PROCESSOR",
    "ADD_AGENT",
    "ADD_NODE",
    "ADD_PLUG",
    "ADD_PRIVILEGE",
    "ADD_QUEUE",
    "ADD_ROLE",
    "ADD_SCHEDULER",
    "ADD_SOCKET",
    "ADD_USER",
    "UPDATE_AGENT",
    "UPDATE_NODE",
    "UPDATE_PLUG",
    "UPDATE_PRIVILEGE",
    "UPDATE_QUEUE",
    "UPDATE_ROLE",
    "UPDATE_SCHEDULER",
    "UPDATE_SOCKET",
    "UPDATE_USER",
    "DELETE_AGENT",
    "DELETE_NODE",
    "DELETE_PLUG",
    "DELETE_PRIVILEGE",
    "DELETE_QUEUE",
    "DELETE_ROLE",
    "DELETE_SCHEDULER",
    "DELETE_SOCKET",
    "DELETE_USER",
    "READ_PROCESSOR",
    "READ_AGENT",
    "READ_NODE",
    "READ_PLUG",
    "READ_PRIVILEGE",
    "READ_QUEUE",
    "READ_ROLE",
    "READ_SCHEDULER",
    "READ_SOCKET",
    "READ_USER",
]


def grant_on_flow(client: APIClient, demo: Demo, right: str, user: str = "bob") -> Any:
    body = {"user": user, "right": right, "object_type": "flow", "object_id": str(demo.flow.id)}
    return client.post("/api/privileges/", body, format="json")


def start(client: APIClient, processor: Processor) -> Any:
    return client.post(f"/api/processors/{processor.id}/start")


def fresh(user: Any) -> Any:
    return User.objects.get(pk=user.pk)  # Django caches permissions on the instance


def rows(client: APIClient) -> list[tuple[str | None, str, str | None]]:
    response = client.get("/api/privileges/")
    assert response.status_code == 200, response.content
    return sorted((row["user"], row["right"], row["object_id"]) for row in response.json()["results"])


def test_owner_shares_start_on_her_flow_and_bob_may_then_start_its_processors(
    api: dict[str, APIClient], demo: Demo
) -> None:
    assert start(api["bob"], demo.p1).status_code == 403

    response = grant_on_flow(api["alice"], demo, "START_PROCESSOR")

    assert response.status_code == 201, response.content
    assert response.json() | {"id": None, "granted_at": None} == {
        "id": None,
        "user": "bob",
        "group": None,
        "right": "START_PROCESSOR",
        "object_type": "flow",
        "object_id": str(demo.flow.id),
        "granted_by": "alice",
        "granted_at": None,
    }
    started = start(api["bob"], demo.p2)
    assert started.status_code == 200, started.content
    assert Processor.objects.get(pk=demo.p2.pk).requested_status == "running"
    assert api["bob"].post(f"/api/processors/{demo.p2.id}/stop").status_code == 403


def test_owner_shares_run_task_on_one_processor(api: dict[str, APIClient], demo: Demo, bob: Any) -> None:
    body = {"user": "bob", "right": "RUN_TASK", "object_type": "processor", "object_id": str(demo.p1.id)}
    response = api["alice"].post("/api/privileges/", body, format="json")

    assert response.status_code == 201, response.content
    bob = fresh(bob)
    assert bob.has_perm("flows.run_task", demo.p1)
    assert not bob.has_perm("flows.run_task", demo.p2)
    assert not bob.has_perm("flows.run_task", demo.flow)


def test_granting_twice_keeps_one_grant(api: dict[str, APIClient], demo: Demo) -> None:
    first = grant_on_flow(api["alice"], demo, "RUN_TASK")
    second = grant_on_flow(api["alice"], demo, "run_task")
    assert second.status_code == 201, second.content
    assert first.json()["id"] == second.json()["id"]
    assert Privilege.objects.filter(user__username="bob", right="RUN_TASK").count() == 1


def test_charlie_cannot_grant_on_a_flow_he_cannot_see(api: dict[str, APIClient], demo: Demo, charlie: Any) -> None:
    response = grant_on_flow(api["charlie"], demo, "ALL", user="charlie")

    assert response.status_code == 404, response.content
    assert list(response.json()["error"]["fields"]) == ["object_id"]
    assert not Privilege.objects.filter(user=charlie).exists()
    assert not fresh(charlie).has_perm("flows.view_flow", demo.flow)


def test_a_viewer_cannot_grant_on_the_flow_he_sees(api: dict[str, APIClient], demo: Demo, bob: Any) -> None:
    response = grant_on_flow(api["bob"], demo, "ALL")

    assert response.status_code == 403, response.content
    assert "owner" in response.json()["error"]["message"]
    assert not fresh(bob).has_perm("flows.change_flow", demo.flow)


@pytest.mark.parametrize("persona", ["alice", "charlie"])
def test_only_add_privilege_grants_globally(api: dict[str, APIClient], demo: Demo, persona: str) -> None:
    response = api[persona].post("/api/privileges/", {"user": "charlie", "right": "READ"}, format="json")

    assert response.status_code == 403, response.content
    assert "ADD_PRIVILEGE" in response.json()["error"]["message"]
    assert not fresh(User.objects.get(username="charlie")).has_perm("flows.view_flow")


def test_admin_grants_globally(api: dict[str, APIClient], demo: Demo, charlie: Any) -> None:
    response = api["admin"].post("/api/privileges/", {"user": "charlie", "right": "READ"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["object_type"] is None
    assert [flow["name"] for flow in api["charlie"].get("/api/flows/").json()["results"]] == ["demo"]


def test_an_unknown_right_is_400_naming_right(api: dict[str, APIClient], demo: Demo) -> None:
    response = grant_on_flow(api["alice"], demo, "FLY")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert list(error["fields"]) == ["right"]
    assert "/api/privileges/rights/" in error["message"]


@pytest.mark.parametrize("right", ["ADD_USER", "LS_NODES", "CREATE", "ADD_FLOW"])
def test_a_right_that_does_not_apply_to_a_flow_is_400(api: dict[str, APIClient], demo: Demo, right: str) -> None:
    response = grant_on_flow(api["alice"], demo, right)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {"right": ["not applicable to a flow"]}
    assert not Privilege.objects.filter(user__username="bob", right=right).exists()


@pytest.mark.parametrize("right", ["DB_DROP", "DB_INIT"])
def test_superuser_only_rights_cannot_be_granted(api: dict[str, APIClient], demo: Demo, right: str) -> None:
    response = api["admin"].post("/api/privileges/", {"user": "bob", "right": right}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {"right": ["superuser only"]}
    assert grant_on_flow(api["alice"], demo, right).status_code == 400
    assert not Privilege.objects.filter(right=right).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"right": "READ"}, "non_field_errors"),
        ({"user": "bob", "group": "operators", "right": "READ"}, "group"),
        ({"user": "bob", "right": "READ", "object_type": "flow"}, "non_field_errors"),
        ({"user": "nobody", "right": "READ"}, "user"),
        (
            {
                "user": "bob",
                "right": "READ",
                "object_type": "socket",
                "object_id": "00000000-0000-0000-0000-000000000000",
            },
            "object_type",
        ),
    ],
    ids=["no-principal", "unknown-group", "type-without-id", "unknown-user", "not-grantable-type"],
)
def test_malformed_grants_are_400_naming_the_field(
    api: dict[str, APIClient], demo: Demo, body: dict[str, str], field: str
) -> None:
    response = api["admin"].post("/api/privileges/", body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_revoking_takes_the_permission_away(api: dict[str, APIClient], demo: Demo) -> None:
    granted = grant_on_flow(api["alice"], demo, "START_PROCESSOR").json()
    assert start(api["bob"], demo.p1).status_code == 200

    response = api["alice"].delete(f"/api/privileges/{granted['id']}/")

    assert response.status_code == 204, response.content
    assert not Privilege.objects.filter(pk=granted["id"]).exists()
    refused = start(api["bob"], demo.p2)
    assert refused.status_code == 403, refused.content
    assert Processor.objects.get(pk=demo.p2.pk).requested_status == "stopped"
    assert api["bob"].get(f"/api/flows/{demo.flow.id}/").status_code == 200  # VIEW_FLOW is a separate grant


def test_a_holder_cannot_revoke_what_others_hold(api: dict[str, APIClient], demo: Demo) -> None:
    bobs = Privilege.objects.get(user__username="bob", right="VIEW_FLOW")
    alices = Privilege.objects.get(user__username="alice", right="ALL")

    assert api["charlie"].delete(f"/api/privileges/{bobs.pk}/").status_code == 404
    assert api["bob"].delete(f"/api/privileges/{alices.pk}/").status_code == 404
    assert api["bob"].delete(f"/api/privileges/{bobs.pk}/").status_code == 403  # his own, but not his flow
    assert Privilege.objects.filter(pk__in=[bobs.pk, alices.pk]).count() == 2


def test_revoking_read_keeps_what_all_still_grants(charlie: Any, demo: Demo) -> None:
    privilege_grant(right="ALL", user=charlie, check=False)
    read = privilege_grant(right="READ", user=charlie, check=False)

    privilege_revoke(privilege=read, check=False)

    assert fresh(charlie).has_perm("flows.view_flow")
    assert fresh(charlie).has_perm("cluster.view_node")
    assert list(Privilege.objects.filter(user=charlie).values_list("right", flat=True)) == ["ALL"]

    privilege_revoke(privilege=Privilege.objects.get(user=charlie, right="ALL"), check=False)
    assert not fresh(charlie).has_perm("flows.view_flow")
    assert not fresh(charlie).get_all_permissions()


def test_revoking_one_of_two_overlapping_object_grants_keeps_the_other(api: dict[str, APIClient], demo: Demo) -> None:
    run = grant_on_flow(api["alice"], demo, "RUN_TASK").json()
    grant_on_flow(api["alice"], demo, "CANCEL_TASK")  # the same permission as RUN_TASK

    assert api["alice"].delete(f"/api/privileges/{run['id']}/").status_code == 204

    assert fresh(User.objects.get(username="bob")).has_perm("flows.run_task", demo.flow)


def test_rights_lists_every_seed_right(api: dict[str, APIClient]) -> None:
    response = api["charlie"].get("/api/privileges/rights/")

    assert response.status_code == 200, response.content
    table = {row["right"]: row for row in response.json()}
    assert set(SEED_RIGHTS) <= set(table), sorted(set(SEED_RIGHTS) - set(table))
    assert table["DB_DROP"]["permissions"] == "superuser only"
    assert table["START_PROCESSOR"]["granted_on"] == "global, flow, processor"
    assert table["ADD_USER"]["granted_on"] == "global"
    assert all(row["description"] for row in table.values())


def test_charlie_sees_no_privileges(api: dict[str, APIClient], demo: Demo) -> None:
    assert rows(api["charlie"]) == []
    bobs = Privilege.objects.get(user__username="bob", right="VIEW_FLOW")
    assert api["charlie"].get(f"/api/privileges/{bobs.pk}/").status_code == 404


def test_owner_sees_every_grant_on_her_flow_and_bob_only_his(api: dict[str, APIClient], demo: Demo) -> None:
    flow = str(demo.flow.id)
    assert rows(api["alice"]) == [("alice", "ALL", flow), ("alice", "CREATE", None), ("bob", "VIEW_FLOW", flow)]
    assert rows(api["bob"]) == [("bob", "VIEW_FLOW", flow)]


def test_owner_sees_and_revokes_grants_on_the_processors_of_her_flow(
    api: dict[str, APIClient], demo: Demo, charlie: Any
) -> None:
    body = {"user": "charlie", "right": "VIEW_PROCESSOR", "object_type": "processor", "object_id": str(demo.p1.id)}
    granted = api["alice"].post("/api/privileges/", body, format="json")
    assert granted.status_code == 201, granted.content
    assert api["charlie"].get(f"/api/processors/{demo.p1.id}/").status_code == 200

    assert ("charlie", "VIEW_PROCESSOR", str(demo.p1.id)) in rows(api["alice"])
    response = api["alice"].delete(f"/api/privileges/{granted.json()['id']}/")

    assert response.status_code == 204, response.content
    assert api["charlie"].get(f"/api/processors/{demo.p1.id}/").status_code == 404
    assert ("charlie", "VIEW_PROCESSOR", str(demo.p1.id)) not in rows(api["bob"])


def test_a_grant_on_a_deleted_flow_can_still_be_revoked(api: dict[str, APIClient], demo: Demo) -> None:
    bobs = Privilege.objects.get(user__username="bob", right="VIEW_FLOW")
    demo.flow.delete()
    assert api["bob"].delete(f"/api/privileges/{bobs.pk}/").status_code == 403

    response = api["admin"].delete(f"/api/privileges/{bobs.pk}/")

    assert response.status_code == 204, response.content
    assert not Privilege.objects.filter(pk=bobs.pk).exists()


def test_deleting_a_flow_removes_its_grants(api: dict[str, APIClient], demo: Demo) -> None:
    assert api["alice"].delete(f"/api/flows/{demo.flow.id}/").status_code == 204

    assert rows(api["bob"]) == []
    assert not Privilege.objects.filter(object_pk=str(demo.flow.id)).exists()
