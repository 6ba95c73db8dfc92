"""POST /api/auth/token/: username and password in, a token for `Authorization: Token ...` out."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

TOKEN_URL = "/api/auth/token/"


def test_good_credentials_give_a_token_that_authenticates(alice: Any, demo: Any) -> None:
    response = APIClient().post(TOKEN_URL, {"username": "alice", "password": "correct-horse-battery"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["username"] == "alice"
    assert body["token"] == Token.objects.get(user=alice).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get("/api/users/me/").json()["username"] == "alice"
    assert [flow["name"] for flow in client.get("/api/flows/").json()["results"]] == ["demo"]


def test_asking_twice_gives_the_same_token(alice: Any) -> None:
    credentials = {"username": "alice", "password": "correct-horse-battery"}
    first = APIClient().post(TOKEN_URL, credentials, format="json").json()["token"]
    second = APIClient().post(TOKEN_URL, credentials, format="json").json()["token"]
    assert first == second


@pytest.mark.parametrize(
    "username, password",
    [
        ("alice", "wrong-password"),
        ("nobody", "correct-horse-battery"),
    ],
    ids=["wrong-password", "unknown-user"],
)
def test_bad_credentials_answer_400_without_saying_which_part_is_wrong(
    alice: Any, username: str, password: str
) -> None:
    response = APIClient().post(TOKEN_URL, {"username": username, "password": password}, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["message"] == "Wrong username or password, or the account is disabled."
    assert "token" not in response.json()
    assert not Token.objects.filter(user=alice).exists()


def test_a_disabled_account_gets_no_token(alice: Any) -> None:
    alice.is_active = False
    alice.save()
    response = APIClient().post(TOKEN_URL, {"username": "alice", "password": "correct-horse-battery"}, format="json")
    assert response.status_code == 400, response.content
    assert "disabled" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body, missing",
    [
        ({"username": "alice"}, {"password"}),
        ({"password": "correct-horse-battery"}, {"username"}),
        ({}, {"username", "password"}),
    ],
    ids=["no-password", "no-username", "nothing"],
)
def test_missing_fields_answer_400_naming_each_field(alice: Any, body: dict[str, str], missing: set[str]) -> None:
    response = APIClient().post(TOKEN_URL, body, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == missing
    assert error["message"].split(":")[0] in missing


def test_an_unknown_field_is_refused_by_name(alice: Any) -> None:
    body = {"username": "alice", "password": "correct-horse-battery", "remember": True}
    response = APIClient().post(TOKEN_URL, body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()["error"]["fields"]) == {"remember"}


def test_a_made_up_token_is_401(alice: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    response = client.get("/api/flows/")
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "authentication_failed"


def test_delete_revokes_the_callers_token_only(alice: Any, bob: Any) -> None:
    alices, bobs = Token.objects.create(user=alice), Token.objects.create(user=bob)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {alices.key}")

    assert client.delete(TOKEN_URL).status_code == 204
    assert not Token.objects.filter(user=alice).exists()
    assert Token.objects.filter(key=bobs.key).exists()
    refused = client.get("/api/users/me/")
    assert refused.status_code == 401, refused.content
    assert client.delete(TOKEN_URL).status_code == 401  # nothing to revoke without a valid token


def test_delete_without_credentials_is_refused_and_revokes_nothing(alice: Any) -> None:
    Token.objects.create(user=alice)
    response = APIClient().delete(TOKEN_URL)
    assert response.status_code == 401, response.content
    assert "Authorization: Token" in response.json()["error"]["message"]
    assert Token.objects.filter(user=alice).exists()
