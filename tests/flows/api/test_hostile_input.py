"""Issue 14: input taken from real bug reports against NiFi, Node-RED, n8n, Celery and Airflow. Each case is a kind
of fault, fixed where it lives (the parser, the renderer, the persistence layer, the flow lock), never a 500.

Lone surrogates reach the API as `\\udc00` escapes, so those bodies are sent as raw JSON text.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import pytest
from django.test import override_settings
from django.views.debug import get_exception_reporter_class
from rest_framework.test import APIClient

from backend.errors import NotFound
from flows.models import Flow, Plug, Socket
from flows.runtime import broker, keys
from flows.runtime.envelope import new_envelope
from flows.services import graph as graph_services
from flows.services import processors as processor_services
from flows.services import sockets as socket_services
from tests.conftest import Demo
from tests.flows.api.test_bad_input import error_of, snapshot

LONE = '"x\\udc00y"'  # JSON text of a string holding a lone surrogate


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture
def clean_redis() -> Any:
    broker.client().flushdb()
    yield
    broker.client().flushdb()


# -- case 3: a lone surrogate poisons a queue's views ----------------------------------------------------------


def test_a_message_with_a_lone_surrogate_answers_400_naming_the_field(
    api: dict[str, APIClient], demo: Demo, clean_redis: None
) -> None:
    response = api["alice"].post(
        f"/api/sockets/{demo.s1.pk}/messages", f'{{"data": {LONE}}}', content_type="application/json"
    )

    error = error_of(response, 400)
    assert list(error["fields"]) == ["data"]
    assert "surrogate" in error["fields"]["data"][0]
    assert broker.client().llen(keys.queue(demo.s1.queue_id)) == 0


def test_a_surrogate_in_an_argument_names_the_argument(
    api: dict[str, APIClient], demo: Demo, clean_redis: None
) -> None:
    body = f'{{"data": 1, "args": ["fine", {{"deep": {LONE}}}]}}'

    response = api["alice"].post(f"/api/sockets/{demo.s1.pk}/messages", body, content_type="application/json")

    assert list(error_of(response, 400)["fields"]) == ["args[1].deep"]


def test_one_poisoned_entry_does_not_hide_a_queue_or_its_dead_letters(
    api: dict[str, APIClient], demo: Demo, clean_redis: None
) -> None:
    """Entries that came in some other way (a raw Celery client, data from before the parser refused them): every
    other entry still shows, and so does the poisoned one, escaped."""
    client = broker.client()
    queue_id = str(demo.s1.queue_id)
    good = new_envelope(flow_id=str(demo.flow.pk), socket_id=str(demo.s1.pk), payload="fine")
    poisoned = new_envelope(flow_id=str(demo.flow.pk), socket_id=str(demo.s1.pk), payload="x\udc00y")
    broker.publish([(queue_id, good), (queue_id, poisoned)])
    client.lpush(keys.queue(queue_id), b"not a message at all")
    dead = keys.dead_letters(demo.s1.pk)
    for envelope in (good, poisoned):
        client.rpush(dead, json.dumps({"error": "boom \udc00", "envelope": envelope}))
    client.rpush(dead, b"\xff\xfe garbage")

    peek = api["bob"].get(f"/api/queues/{demo.s1.queue_id}/messages?limit=10")
    letters = api["bob"].get(f"/api/queues/{demo.s1.queue_id}/dead-letters")

    assert peek.status_code == 200, peek.content
    payloads = [m.get("payload") for m in peek.json()["messages"]]
    assert payloads[:2] == ["fine", "x\udc00y"] and "undecodable" in peek.json()["messages"][2]
    assert letters.status_code == 200, letters.content
    results = letters.json()["results"]
    assert [r.get("envelope", {}).get("payload") for r in results[:2]] == ["fine", "x\udc00y"]
    assert "undecodable" in results[2]


def test_one_dead_letter_can_be_deleted(api: dict[str, APIClient], demo: Demo, clean_redis: None) -> None:
    client = broker.client()
    dead = keys.dead_letters(demo.s1.pk)
    envelopes = [new_envelope(flow_id=str(demo.flow.pk), socket_id=str(demo.s1.pk), payload=n) for n in range(3)]
    for envelope in envelopes:
        client.rpush(dead, json.dumps({"error": "boom", "envelope": envelope}))
    path = f"/api/queues/{demo.s1.queue_id}/dead-letters/{envelopes[1]['id']}"

    assert api["charlie"].delete(path).status_code == 404
    error_of(api["bob"].delete(path), 403)  # bob may look, not edit
    assert api["alice"].delete(path).status_code == 204
    error_of(api["alice"].delete(path), 404)

    left = api["alice"].get(f"/api/queues/{demo.s1.queue_id}/dead-letters").json()["results"]
    assert [r["envelope"]["id"] for r in left] == [envelopes[0]["id"], envelopes[2]["id"]]


# -- case 4: deep nesting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [150, 1000, 100_000])
def test_a_deep_body_answers_400_json_not_a_500_page(api: dict[str, APIClient], demo: Demo, levels: int) -> None:
    before = snapshot()
    body = f'{{"name": "deep", "layout": {{"x": {deep(levels)}}}}}'

    response = api["alice"].post("/api/flows/", body, content_type="application/json")

    error = error_of(response, 400)
    assert "levels deep" in error["message"] or "levels deep" in str(error.get("fields"))
    assert snapshot() == before


def test_a_deep_body_to_the_token_endpoint_answers_400_without_logging_in(api: dict[str, APIClient]) -> None:
    response = api["anonymous"].post(
        "/api/auth/token/", f'{{"username": {deep(1000)}}}', content_type="application/json"
    )

    assert "levels deep" in error_of(response, 400)["message"]


def test_the_depth_limit_is_exact_for_a_messages_data_and_args(
    api: dict[str, APIClient], demo: Demo, clean_redis: None
) -> None:
    path = f"/api/sockets/{demo.s1.pk}/messages"

    assert api["alice"].post(path, f'{{"data": {deep(100)}}}', content_type="application/json").status_code == 202
    body = f'{{"data": 1, "args": [{deep(100)}]}}'
    assert api["alice"].post(path, body, content_type="application/json").status_code == 202
    error = error_of(api["alice"].post(path, f'{{"data": {deep(101)}}}', content_type="application/json"), 400)
    assert next(iter(error["fields"])).startswith("data")


def test_a_deep_message_names_its_field(api: dict[str, APIClient], demo: Demo, clean_redis: None) -> None:
    response = api["alice"].post(
        f"/api/sockets/{demo.s1.pk}/messages", f'{{"data": {deep(150)}}}', content_type="application/json"
    )

    assert next(iter(error_of(response, 400)["fields"])).startswith("data")


def test_error_pages_print_no_password(settings: Any) -> None:
    """DEBUG pages (and error mails) print settings and frame variables: connection URLs keep their passwords
    out of them."""
    db_password, redis_password = "pg-" + "pw-123", "redis-" + "pw-456"  # never whole here: the page quotes code
    settings.DATABASE_URL = f"postgres://elastic:{db_password}@db:5432/x"
    settings.REDIS_URL = f"redis://:{redis_password}@cache:6379/0"
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    settings.CHANNEL_LAYERS = {"default": {"CONFIG": {"hosts": [settings.REDIS_URL]}}}
    url = settings.DATABASE_URL  # a frame variable holding one
    try:
        raise RuntimeError(f"failed to reach {url}")
    except RuntimeError:
        reporter = get_exception_reporter_class(None)(None, *sys.exc_info())
        html, text = reporter.get_traceback_html(), reporter.get_traceback_text()

    for page in (html, text):
        assert db_password not in page and redis_password not in page
    assert "postgres://elastic:********@db" in html


# -- case 5: NUL and surrogates in JSON fields stored in PostgreSQL ---------------------------------------------


@pytest.mark.parametrize("text", ['"a\\u0000b"', LONE])
def test_nul_or_surrogate_in_a_layout_answers_400_naming_it(api: dict[str, APIClient], demo: Demo, text: str) -> None:
    before = snapshot()
    doc = api["alice"].get(f"/api/flows/{demo.flow.pk}/graph").json()
    graph = json.dumps({**doc, "layout": {"note": "__X__"}}).replace('"__X__"', text)
    exported = json.dumps(api["alice"].get(f"/api/flows/{demo.flow.pk}/export").json())
    document = json.dumps({"document": {**json.loads(exported), "layout": {"note": "__X__"}}, "name": "copy"})

    answers = {
        "create": api["alice"].post(
            "/api/flows/", f'{{"name": "n", "layout": {{"note": {text}}}}}', content_type="application/json"
        ),
        "update": api["alice"].patch(
            f"/api/flows/{demo.flow.pk}/", f'{{"layout": {{"note": {text}}}}}', content_type="application/json"
        ),
        "graph": api["alice"].put(f"/api/flows/{demo.flow.pk}/graph", graph, content_type="application/json"),
        "import": api["alice"].post(
            "/api/flows/import/", document.replace('"__X__"', text), content_type="application/json"
        ),
    }

    for how, response in answers.items():
        fields = error_of(response, 400)["fields"]
        assert any("layout" in name for name in fields), (how, fields)
    assert snapshot() == before


@pytest.mark.parametrize("text", ['"a\\u0000b"', LONE])
def test_nul_or_surrogate_in_socket_arguments_answers_400_naming_them(
    api: dict[str, APIClient], demo: Demo, text: str
) -> None:
    before = snapshot()

    response = api["alice"].patch(
        f"/api/sockets/{demo.s1.pk}/", f'{{"arguments": [{{"name": {text}}}]}}', content_type="application/json"
    )

    assert any("arguments" in name for name in error_of(response, 400)["fields"])
    assert snapshot() == before
    assert Socket.objects.get(pk=demo.s1.pk).arguments == demo.s1.arguments


# -- case 7: a write racing the deletion of its flow -----------------------------------------------------------


def test_writes_racing_the_deletion_of_their_flow_answer_not_found(alice: Any, demo: Demo) -> None:
    """The view found the objects; the flow was deleted before the write locked it."""
    stale_flow = Flow.objects.get(pk=demo.flow.pk)
    stale_plug = Plug.objects.get(pk=demo.plug.pk)
    stale_socket = Socket.objects.select_related("flow").get(pk=demo.s1.pk)
    doc = {"version": stale_flow.version, "processors": [], "plugs": []}
    Flow.objects.filter(pk=demo.flow.pk).delete()

    with pytest.raises(NotFound):
        socket_services.plug_delete(user=alice, plug=stale_plug)
    with pytest.raises(NotFound):
        processor_services.processor_create(
            user=alice, flow=stale_flow, data={"name": "p", "git_url": "file:///x", "module": "m"}
        )
    with pytest.raises(NotFound):
        socket_services.socket_update(user=alice, socket=stale_socket, data={"max_queue_length": 5})
    with pytest.raises(NotFound):
        graph_services.flow_graph_replace(user=alice, flow=stale_flow, doc=doc)
    assert not Socket.objects.filter(pk=demo.s1.pk).exists()  # never brought back by the update


def test_a_socket_patch_racing_its_delete_does_not_bring_it_back(alice: Any, demo: Demo) -> None:
    stale_socket = Socket.objects.select_related("flow").get(pk=demo.s1.pk)
    Socket.objects.filter(pk=demo.s1.pk).delete()

    with pytest.raises(NotFound):
        socket_services.socket_update(user=alice, socket=stale_socket, data={"name": "back"})

    assert not Socket.objects.filter(pk=demo.s1.pk).exists()


def test_an_object_gone_mid_request_answers_404_json(
    api: dict[str, APIClient], demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.api import views

    stale = Plug.objects.get(pk=demo.plug.pk)
    monkeypatch.setattr(views.PlugViewSet, "get_object", lambda self: stale)
    Flow.objects.filter(pk=demo.flow.pk).delete()

    error_of(api["alice"].delete(f"/api/plugs/{demo.plug.pk}/"), 404)


# -- case 9: null is a message -----------------------------------------------------------------------------------


def test_null_is_a_message_like_any_other(api: dict[str, APIClient], demo: Demo, clean_redis: None) -> None:
    response = api["alice"].post(f"/api/sockets/{demo.s1.pk}/messages", {"data": None}, format="json")

    assert response.status_code == 202, response.content
    [entry] = broker.client().lrange(keys.queue(demo.s1.queue_id), 0, -1)
    assert broker.decode(entry)["envelope"]["payload"] is None
    error_of(api["alice"].post(f"/api/sockets/{demo.s1.pk}/messages", {}, format="json"), 400)  # data is required


# -- case 10: limits --------------------------------------------------------------------------------------------


@override_settings(ELASTICCODE_MAX_MESSAGE_BYTES=1000)
def test_the_message_limit_counts_the_arguments_too(api: dict[str, APIClient], demo: Demo, clean_redis: None) -> None:
    response = api["alice"].post(
        f"/api/sockets/{demo.s1.pk}/messages", {"data": 1, "args": ["x" * 1500]}, format="json"
    )

    error = error_of(response, 413)
    assert list(error["fields"]) == ["args"]
    assert broker.client().llen(keys.queue(demo.s1.queue_id)) == 0


def test_a_full_bounded_queue_answers_429_with_retry_after(
    api: dict[str, APIClient], demo: Demo, clean_redis: None
) -> None:
    Socket.objects.filter(pk=demo.s1.pk).update(max_queue_length=2)
    path = f"/api/sockets/{demo.s1.pk}/messages"
    for n in range(2):
        assert api["alice"].post(path, {"data": n}, format="json").status_code == 202

    response = api["alice"].post(path, {"data": 3}, format="json")

    error = error_of(response, 429)
    assert int(response["Retry-After"]) >= 1
    assert "2" in error["message"]
    assert broker.client().llen(keys.queue(demo.s1.queue_id)) == 2


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_urls_answer_json(api: dict[str, APIClient], settings: Any, debug: bool) -> None:
    """DEBUG on (make run) Django answers its HTML page listing every URL unless the API says otherwise."""
    settings.DEBUG = debug
    for method in ("get", "delete"):
        error_of(getattr(api["alice"], method)(f"/api/no-such-thing/{uuid.uuid4()}/"), 404)
    error_of(api["alice"].get("/api/queues/q.not-an-id/messages"), 404)


@override_settings(ELASTICCODE_MAX_BODY_BYTES=1000, DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
@pytest.mark.parametrize("path", ["/api/flows/", "/api/auth/token/"])
def test_a_body_over_the_global_limit_answers_413_json(api: dict[str, APIClient], path: str) -> None:
    """Django's own body limit (DATA_UPLOAD_MAX_MEMORY_SIZE, set to the same number) answered an HTML 400 first."""
    client = api["alice"] if path == "/api/flows/" else api["anonymous"]

    body = {"name": "x" * 2000} if path == "/api/flows/" else {"username": "x" * 2000, "password": "p"}

    response = client.post(path, body, format="json")

    assert "1000 bytes" in error_of(response, 413)["message"]
