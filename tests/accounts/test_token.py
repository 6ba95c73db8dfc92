"""POST /api/auth/token/: username and password in, a token for `Authorization: Token ...` out."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.test_settings import GOOD, import_prod

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


# -- throttling -----------------------------------------------------------------------------------------------

ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.9"


@pytest.fixture
def login_rate(settings: Any) -> None:
    """The default rate (the test settings raise it), counted in a cache namespace of this test's own.

    A fresh KEY_PREFIX is this test's cleared cache: no earlier login of any test counts, and nothing is flushed
    from the Redis database the broker and the channel layer share (cache.clear() would FLUSHDB it). The keys
    expire after the rate's period.
    """
    settings.ELASTICCODE_LOGIN_RATE = "10/min"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


def login(address: str, username: str, password: str, forwarded_for: str | None = None) -> Any:
    client = APIClient()
    client.defaults["REMOTE_ADDR"] = address
    if forwarded_for:
        client.defaults["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def test_the_eleventh_wrong_login_in_a_minute_answers_429_with_retry_after(
    alice: Any, bob: Any, login_rate: None
) -> None:
    for attempt in range(10):
        response = login(ATTACKER, "alice", f"guess-{attempt}")
        assert response.status_code == 400, (attempt, response.content)

    refused = login(ATTACKER, "alice", "guess-10")

    assert refused.status_code == 429, refused.content
    assert refused["Content-Type"] == "application/json"
    error = refused.json()["error"]
    assert error["code"] == "throttled"
    assert error["message"].startswith("Too many login attempts from this address or for this username.")
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "token" not in refused.json()
    # Another user, from another address, logs in as usual.
    welcome = login(ELSEWHERE, "bob", "correct-horse-battery")
    assert welcome.status_code == 200, welcome.content
    assert welcome.json()["token"] == Token.objects.get(user=bob).key


def test_the_count_is_kept_per_username_and_per_address(alice: Any, bob: Any, login_rate: None) -> None:
    for attempt in range(10):
        assert login(ATTACKER, "alice", f"guess-{attempt}").status_code == 400

    # alice's own password from another address: her username's attempts are spent (Alice, too: case is ignored).
    assert login(ELSEWHERE, "alice", "correct-horse-battery").status_code == 429
    assert login(ELSEWHERE, "Alice", "correct-horse-battery").status_code == 429
    # bob's good password from the attacker's address: that address's attempts are spent.
    assert login(ATTACKER, "bob", "correct-horse-battery").status_code == 429
    assert not Token.objects.exists()


def test_a_forged_x_forwarded_for_does_not_reset_the_address_count(alice: Any, login_rate: None) -> None:
    # Different usernames and a different X-Forwarded-For each time: only the real address can tie them together.
    answers = [
        login(ATTACKER, f"user{attempt}", "guess", forwarded_for=f"192.0.2.{attempt}").status_code
        for attempt in range(11)
    ]
    assert answers == [400] * 10 + [429]


def test_logins_are_counted_in_the_redis_the_platform_uses() -> None:
    cache = django_settings.CACHES["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == django_settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]


@pytest.mark.parametrize("rate", ["10/month", "ten/min", "0/min", "10"])
def test_a_login_rate_that_is_not_a_count_per_period_stops_start_up(rate: str) -> None:
    result = import_prod(**GOOD, ELASTICCODE_LOGIN_RATE=rate)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ELASTICCODE_LOGIN_RATE" in result.stderr
