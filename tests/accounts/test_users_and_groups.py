"""Users and roles (groups): who may create them, what a new user or a role member may then do, who sees whom."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from backend.accounts.services import privilege_grant
from backend.cluster.models import Node

User = get_user_model()
STRONG = "tangerine-kettle-90"


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    body = response.json()
    return [row.get("username", row.get("name")) for row in body["results"]]


def token_client(username: str, password: str) -> APIClient:
    response = APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


# -- users ----------------------------------------------------------------------------------------------------


def test_admin_creates_a_user_who_logs_in_and_uses_the_rights_given(api: dict[str, APIClient]) -> None:
    response = api["admin"].post(
        "/api/users/",
        {
            "username": "dave",
            "password": STRONG,
            "email": "dave@example.test",
            "rights": ["CREATE"],
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["username"] == "dave"
    assert "password" not in response.json()
    dave = token_client("dave", STRONG)
    created = dave.post("/api/flows/", {"name": "daves-flow"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["owner"] == "dave"
    assert names(dave.get("/api/flows/")) == ["daves-flow"]
    assert dave.get("/api/privileges/").json()["count"] == 2  # CREATE globally, ALL on the flow dave owns


def test_a_user_created_without_rights_may_not_create_flows(api: dict[str, APIClient]) -> None:
    assert api["admin"].post("/api/users/", {"username": "erin", "password": STRONG}, format="json").status_code == 201
    response = token_client("erin", STRONG).post("/api/flows/", {"name": "erins-flow"}, format="json")
    assert response.status_code == 403, response.content
    assert "CREATE" in response.json()["error"]["message"]


@pytest.mark.parametrize("password", ["123", "password", "dave"], ids=["short", "common", "same-as-username"])
def test_a_weak_password_is_refused_naming_the_field(api: dict[str, APIClient], password: str) -> None:
    response = api["admin"].post("/api/users/", {"username": "dave", "password": password}, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert list(error["fields"]) == ["password"]
    assert error["message"].startswith("password:")
    assert not User.objects.filter(username="dave").exists()


@pytest.mark.parametrize("username", ["bob", "BOB"])
def test_a_taken_username_is_409(api: dict[str, APIClient], username: str) -> None:
    response = api["admin"].post("/api/users/", {"username": username, "password": STRONG}, format="json")

    assert response.status_code == 409, response.content
    assert list(response.json()["error"]["fields"]) == ["username"]
    assert User.objects.filter(username__iexact="bob").count() == 1


def test_an_unknown_right_creates_no_user(api: dict[str, APIClient]) -> None:
    response = api["admin"].post(
        "/api/users/", {"username": "dave", "password": STRONG, "rights": ["FLY"]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["right"]
    assert not User.objects.filter(username="dave").exists()


def test_alice_may_not_create_users(api: dict[str, APIClient]) -> None:
    response = api["alice"].post("/api/users/", {"username": "mallory", "password": STRONG}, format="json")

    assert response.status_code == 403, response.content
    assert "ADD_USER" in response.json()["error"]["message"]
    assert not User.objects.filter(username="mallory").exists()


def test_add_user_right_does_not_allow_creating_a_superuser(api: dict[str, APIClient], alice: Any) -> None:
    privilege_grant(right="ADD_USER", user=alice, check=False)
    body = {"username": "mallory", "password": STRONG, "is_superuser": True}
    response = api["alice"].post("/api/users/", body, format="json")
    assert response.status_code == 403, response.content
    assert not User.objects.filter(username="mallory").exists()

    response = api["alice"].post("/api/users/", {"username": "mallory", "password": STRONG}, format="json")
    assert response.status_code == 201, response.content
    assert User.objects.get(username="mallory").is_superuser is False


def test_charlie_lists_users_and_sees_only_himself(api: dict[str, APIClient], charlie: Any, bob: Any) -> None:
    assert names(api["charlie"].get("/api/users/")) == ["charlie"]
    assert api["charlie"].get(f"/api/users/{bob.pk}/").status_code == 404
    assert api["charlie"].get("/api/users/me/").json()["username"] == "charlie"


def test_admin_and_ls_users_list_everyone(api: dict[str, APIClient], charlie: Any) -> None:
    everyone = ["alice", "bob", "charlie", "root"]
    assert names(api["admin"].get("/api/users/")) == everyone
    privilege_grant(right="LS_USERS", user=charlie, check=False)
    assert names(api["charlie"].get("/api/users/")) == everyone


def test_a_user_may_not_change_another_user(api: dict[str, APIClient], alice: Any) -> None:
    response = api["charlie"].patch(f"/api/users/{alice.pk}/", {"email": "x@example.test"}, format="json")
    assert response.status_code == 404, response.content
    alice.refresh_from_db()
    assert alice.email == "alice@example.test"


def test_a_user_may_not_put_himself_in_a_role(api: dict[str, APIClient], charlie: Any) -> None:
    Group.objects.create(name="admins")
    response = api["charlie"].patch(f"/api/users/{charlie.pk}/", {"groups": ["admins"]}, format="json")
    assert response.status_code == 403, response.content
    assert not charlie.groups.exists()


# -- roles ----------------------------------------------------------------------------------------------------


def test_role_members_inherit_its_rights(api: dict[str, APIClient], bob: Any) -> None:
    Node.objects.create(name="node1", hostname="phoenix")
    assert names(api["bob"].get("/api/nodes/")) == []

    created = api["admin"].post("/api/groups/", {"name": "operators", "rights": ["READ"]}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["users"] == []
    added = api["admin"].patch(f"/api/groups/{created.json()['id']}/", {"users": ["bob"]}, format="json")
    assert added.status_code == 200, added.content
    assert added.json()["users"] == ["bob"]

    assert names(api["bob"].get("/api/nodes/")) == ["node1"]
    assert names(api["bob"].get("/api/groups/")) == ["operators"]
    assert "operators" in api["bob"].get("/api/users/me/").json()["groups"]


def test_removing_a_member_takes_the_rights_away(api: dict[str, APIClient], bob: Any) -> None:
    Node.objects.create(name="node1", hostname="phoenix")
    created = api["admin"].post(
        "/api/groups/", {"name": "operators", "rights": ["READ"], "users": ["bob"]}, format="json"
    )
    assert created.status_code == 201, created.content
    assert names(api["bob"].get("/api/nodes/")) == ["node1"]

    api["admin"].patch(f"/api/groups/{created.json()['id']}/", {"users": []}, format="json")
    assert names(api["bob"].get("/api/nodes/")) == []


def test_charlie_sees_no_role_he_is_not_in(api: dict[str, APIClient], bob: Any, charlie: Any) -> None:
    operators = Group.objects.create(name="operators")
    operators.user_set.add(bob)
    viewers = Group.objects.create(name="viewers")
    viewers.user_set.add(charlie)

    assert names(api["charlie"].get("/api/groups/")) == ["viewers"]
    assert api["charlie"].get(f"/api/groups/{operators.pk}/").status_code == 404
    assert api["charlie"].get(f"/api/groups/{viewers.pk}/").json()["users"] == ["charlie"]
    assert names(api["admin"].get("/api/groups/")) == ["operators", "viewers"]


def test_alice_may_not_create_or_change_roles(api: dict[str, APIClient], alice: Any) -> None:
    response = api["alice"].post("/api/groups/", {"name": "mine", "rights": ["ALL"]}, format="json")
    assert response.status_code == 403, response.content
    assert "ADD_ROLE" in response.json()["error"]["message"]
    assert not Group.objects.filter(name="mine").exists()

    group = Group.objects.create(name="team")
    group.user_set.add(alice)
    response = api["alice"].patch(f"/api/groups/{group.pk}/", {"users": ["alice", "bob"]}, format="json")
    assert response.status_code == 403, response.content
    assert list(group.user_set.values_list("username", flat=True)) == ["alice"]


def test_a_taken_role_name_is_409(api: dict[str, APIClient]) -> None:
    Group.objects.create(name="operators")
    response = api["admin"].post("/api/groups/", {"name": "Operators"}, format="json")
    assert response.status_code == 409, response.content
    assert list(response.json()["error"]["fields"]) == ["name"]


def test_a_role_with_an_unknown_right_is_not_created(api: dict[str, APIClient]) -> None:
    response = api["admin"].post("/api/groups/", {"name": "operators", "rights": ["FLY"]}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["right"]
    assert not Group.objects.filter(name="operators").exists()


# -- no way round ADD_PRIVILEGE -------------------------------------------------------------------------------


def test_add_user_alone_cannot_hand_out_rights(api: dict[str, APIClient], alice: Any) -> None:
    privilege_grant(right="ADD_USER", user=alice, check=False)

    response = api["alice"].post(
        "/api/users/", {"username": "mallory", "password": STRONG, "rights": ["ALL"]}, format="json"
    )

    assert response.status_code == 403, response.content
    assert "ADD_PRIVILEGE" in response.json()["error"]["message"]
    assert not User.objects.filter(username="mallory").exists()


def test_add_user_alone_cannot_put_the_new_user_in_a_role(api: dict[str, APIClient], alice: Any) -> None:
    admins = Group.objects.create(name="admins")
    privilege_grant(right="ALL", group=admins, check=False)
    privilege_grant(right="ADD_USER", user=alice, check=False)

    response = api["alice"].post(
        "/api/users/", {"username": "mallory", "password": STRONG, "groups": ["admins"]}, format="json"
    )

    assert response.status_code == 403, response.content
    assert not User.objects.filter(username="mallory").exists()
    assert not admins.user_set.exists()


def test_add_role_alone_cannot_make_a_role_with_rights(api: dict[str, APIClient], alice: Any) -> None:
    privilege_grant(right="ADD_ROLE", user=alice, check=False)

    response = api["alice"].post("/api/groups/", {"name": "mine", "rights": ["ALL"], "users": ["alice"]}, format="json")

    assert response.status_code == 403, response.content
    assert not Group.objects.filter(name="mine").exists()
    assert not User.objects.get(username="alice").has_perm("auth.add_user")

    plain = api["alice"].post("/api/groups/", {"name": "mine", "users": ["alice"]}, format="json")
    assert plain.status_code == 201, plain.content
    assert plain.json()["users"] == ["alice"]


def test_add_privilege_may_create_users_with_rights(api: dict[str, APIClient], alice: Any) -> None:
    privilege_grant(right="ADD_USER", user=alice, check=False)
    privilege_grant(right="ADD_PRIVILEGE", user=alice, check=False)

    response = api["alice"].post(
        "/api/users/", {"username": "dave", "password": STRONG, "rights": ["READ"]}, format="json"
    )

    assert response.status_code == 201, response.content
    assert User.objects.get(username="dave").has_perm("cluster.view_node")
