"""Bad input answers 4xx with a JSON error naming what to fix, never 500, and saves nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from flows.models import Flow, Plug, Processor, Queue, Socket
from tests.conftest import Demo, build_demo, client_for
from tests.factories import make_flow, make_user

PROCESSOR = {"name": "proc3", "git_url": "file:///srv/repos/sample.git", "module": "sample.functions"}


def snapshot() -> tuple[Any, ...]:
    """Every row count, and every flow's version."""
    counts = tuple(model.objects.count() for model in (Flow, Processor, Socket, Plug, Queue))
    return (*counts, sorted(Flow.objects.values_list("pk", "version")))


@pytest.fixture
def unchanged(demo: Demo) -> Iterator[None]:
    """Asserts after the test that the failed write saved nothing."""
    before = snapshot()
    yield
    assert snapshot() == before


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error = response.json()["error"]
    assert error["code"] and error["message"]
    return error


def test_malformed_json_answers_400_saying_so(api: dict[str, APIClient], unchanged: None) -> None:
    response = api["alice"].post("/api/flows/", '{"name": "x",', content_type="application/json")

    assert "not valid JSON" in error_of(response, 400)["message"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_has_not_answer_400_not_500(api: dict[str, APIClient], unchanged: None, number: str) -> None:
    # Python's json reads these; PostgreSQL's jsonb does not, so they must stop at the parser.
    body = f'{{"name": "x", "layout": {{"zoom": {number}}}}}'

    response = api["alice"].post("/api/flows/", body, content_type="application/json")

    assert "not valid JSON" in error_of(response, 400)["message"]


def test_a_queue_length_beyond_the_column_answers_400_not_500(
    api: dict[str, APIClient], demo: Demo, unchanged: None
) -> None:
    body = {"processor": str(demo.p1.pk), "name": "demo.proc1.tick", "function": "tick", "max_queue_length": 2**31}

    response = api["alice"].post("/api/sockets/", body, format="json")

    assert list(error_of(response, 400)["fields"]) == ["max_queue_length"]


def test_a_list_where_an_object_belongs_answers_400(api: dict[str, APIClient], unchanged: None) -> None:
    response = api["alice"].post("/api/flows/", ["name", "x"], format="json")

    assert "dictionary" in error_of(response, 400)["message"]


@pytest.mark.parametrize("concurrency", ["lots", 0, 65, 2.5, None])
def test_a_bad_concurrency_answers_400_naming_it(
    api: dict[str, APIClient], demo: Demo, unchanged: None, concurrency: Any
) -> None:
    response = api["alice"].patch(f"/api/processors/{demo.p1.pk}/", {"concurrency": concurrency}, format="json")

    assert list(error_of(response, 400)["fields"]) == ["concurrency"]
    assert Processor.objects.get(pk=demo.p1.pk).concurrency == demo.p1.concurrency


@pytest.mark.parametrize(
    "path",
    [
        f"/api/flows/{uuid.uuid4()}/",
        f"/api/flows/{uuid.uuid4()}/graph",
        "/api/flows/not-a-uuid/",
        "/api/flows/not-a-uuid/graph",
        "/api/flows/12345/export",
        "/api/processors/not-a-uuid/",
        "/api/sockets/not-a-uuid/",
        "/api/plugs/not-a-uuid/",
        "/api/queues/not-a-uuid/",
        "/api/calls/not-a-uuid/",
    ],
)
def test_an_unknown_or_malformed_id_answers_404(api: dict[str, APIClient], demo: Demo, path: str) -> None:
    error_of(api["alice"].get(path), 404)


def test_an_unknown_id_in_a_write_answers_404(api: dict[str, APIClient], unchanged: None) -> None:
    error_of(api["alice"].post("/api/processors/not-a-uuid/start"), 404)
    error_of(api["alice"].patch("/api/flows/not-a-uuid/", {"name": "x"}, format="json"), 404)
    error_of(api["alice"].delete(f"/api/plugs/{uuid.uuid4()}/"), 404)


@pytest.mark.parametrize("whose", ["someone else's", "nobody's"])
def test_creating_a_processor_in_a_flow_alice_cannot_see_answers_404(
    api: dict[str, APIClient], demo: Demo, whose: str
) -> None:
    flow_id = make_flow(make_user("dave", "CREATE"), "dave's").pk if whose == "someone else's" else uuid.uuid4()
    before = snapshot()

    response = api["alice"].post("/api/processors/", {**PROCESSOR, "flow": str(flow_id)}, format="json")

    error_of(response, 404)
    assert snapshot() == before


@override_settings(ELASTICCODE_MAX_BODY_BYTES=1000)
def test_a_body_over_the_size_limit_answers_413_with_a_json_error(api: dict[str, APIClient], unchanged: None) -> None:
    response = api["alice"].post("/api/flows/", {"name": "big", "description": "x" * 2000}, format="json")

    error = error_of(response, 413)
    assert "1000 bytes" in error["message"]

    # Just under the limit is fine.
    response = api["alice"].post("/api/flows/", {"name": "small", "description": "x" * 900}, format="json")
    assert response.status_code == 201, response.content
    Flow.objects.filter(name="small").delete()


@pytest.mark.parametrize(
    "schedule",
    [
        {"cron": "bad"},
        {"cron": "99 * * * *"},
        {"interval": -1},
        {"interval": "1"},
        {"interval": 5, "cron": "* * * * *"},
        {"every": 5},
        "hourly",
        [5],
    ],
)
def test_a_bad_schedule_answers_400_naming_it(
    api: dict[str, APIClient], demo: Demo, unchanged: None, schedule: Any
) -> None:
    body = {"processor": str(demo.p1.pk), "name": "demo.proc1.tick", "function": "tick", "schedule": schedule}

    response = api["alice"].post("/api/sockets/", body, format="json")

    assert list(error_of(response, 400)["fields"]) == ["schedule"]


@pytest.mark.parametrize("schedule", [{"cron": "*/5 * * * *"}, {"interval": 0.5}, None])
def test_a_good_schedule_is_saved(api: dict[str, APIClient], demo: Demo, schedule: Any) -> None:
    body = {"processor": str(demo.p1.pk), "name": "demo.proc1.tick", "function": "tick", "schedule": schedule}

    response = api["alice"].post("/api/sockets/", body, format="json")

    assert response.status_code == 201, response.content
    assert Socket.objects.get(name="demo.proc1.tick").schedule == schedule


@pytest.mark.parametrize("module", ["not a module!", "1abc", "a..b", ""])
def test_an_invalid_module_path_answers_400(
    api: dict[str, APIClient], demo: Demo, unchanged: None, module: str
) -> None:
    response = api["alice"].post(
        "/api/processors/", {**PROCESSOR, "flow": str(demo.flow.pk), "module": module}, format="json"
    )

    assert list(error_of(response, 400)["fields"]) == ["module"]


def test_a_socket_name_with_a_space_answers_400(api: dict[str, APIClient], demo: Demo, unchanged: None) -> None:
    body = {"processor": str(demo.p1.pk), "name": "my socket", "function": "tick"}

    response = api["alice"].post("/api/sockets/", body, format="json")

    assert list(error_of(response, 400)["fields"]) == ["name"]


def test_a_socket_name_with_a_space_in_a_graph_answers_400(
    api: dict[str, APIClient], demo: Demo, unchanged: None
) -> None:
    doc = api["alice"].get(f"/api/flows/{demo.flow.pk}/graph").json()
    doc["processors"][0]["sockets"][0]["name"] = "my socket"

    response = api["alice"].put(f"/api/flows/{demo.flow.pk}/graph", doc, format="json")

    assert list(error_of(response, 400)["fields"]) == ["processors[0].sockets[0].name"]


def test_a_plug_from_a_socket_to_itself_answers_400(api: dict[str, APIClient], demo: Demo, unchanged: None) -> None:
    body = {"source": str(demo.s1.pk), "target": str(demo.s1.pk)}

    response = api["alice"].post("/api/plugs/", body, format="json")

    assert "target" in error_of(response, 400)["fields"]


def test_a_plug_between_two_flows_answers_400(api: dict[str, APIClient], demo: Demo, alice: Any) -> None:
    other = build_demo(alice, "other")
    before = snapshot()

    response = api["alice"].post("/api/plugs/", {"source": str(demo.s1.pk), "target": str(other.s1.pk)}, format="json")

    assert "target" in error_of(response, 400)["fields"]
    assert snapshot() == before


def test_a_duplicate_processor_name_answers_409(api: dict[str, APIClient], demo: Demo, unchanged: None) -> None:
    response = api["alice"].post(
        "/api/processors/", {**PROCESSOR, "flow": str(demo.flow.pk), "name": "proc1"}, format="json"
    )

    assert list(error_of(response, 409)["fields"]) == ["name"]


def test_renaming_a_processor_to_a_taken_name_answers_409(
    api: dict[str, APIClient], demo: Demo, unchanged: None
) -> None:
    response = api["alice"].patch(f"/api/processors/{demo.p2.pk}/", {"name": "proc1"}, format="json")

    error_of(response, 409)
    assert Processor.objects.get(pk=demo.p2.pk).name == "proc2"


@pytest.mark.parametrize("path", ["/api/flows/", "/api/processors/"])
def test_form_data_answers_415(api: dict[str, APIClient], demo: Demo, unchanged: None, path: str) -> None:
    response = api["alice"].post(path, {**PROCESSOR, "flow": str(demo.flow.pk)})  # multipart, not JSON

    assert "application/json" not in response.request["CONTENT_TYPE"]
    error_of(response, 415)


def test_form_data_to_the_graph_answers_415(api: dict[str, APIClient], demo: Demo, unchanged: None) -> None:
    response = api["alice"].put(
        f"/api/flows/{demo.flow.pk}/graph", "version=1", content_type="application/x-www-form-urlencoded"
    )

    error_of(response, 415)


def test_an_unknown_format_parameter_is_ignored_not_a_bare_404(alice: Any) -> None:
    """Found by tests/test_fuzz.py: DRF answers an unknown `?format=` with a 404 no operation documents."""
    answer = client_for(alice).get("/api/archive/?format=J%C3%BD&limit=5")
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("application/json")


def test_a_bare_number_rate_limit_is_per_second_as_in_celery(demo: Demo, alice: Any) -> None:
    """Found by a newcomer: Celery reads "5" as 5/s, and the API refused it."""
    client = client_for(alice)
    answer = client.patch(f"/api/processors/{demo.p1.pk}/", {"rate_limit": "5"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["rate_limit"] == "5/s"
    refused = client.patch(f"/api/processors/{demo.p1.pk}/", {"rate_limit": "5/d"}, format="json")
    assert refused.status_code == 400 and "rate_limit" in refused.json()["error"]["fields"]
    # Found by a newcomer: "0/s" was taken, and Celery reads 0 as no limit at all.
    for zero in ("0", "0/s", "0.0/m"):
        refused = client.patch(f"/api/processors/{demo.p1.pk}/", {"rate_limit": zero}, format="json")
        assert refused.status_code == 400 and "pause it" in refused.json()["error"]["message"], zero


def test_autoscale_max_is_kept_and_shown_everywhere_a_processor_is(api: dict[str, APIClient], demo: Demo) -> None:
    answer = api["alice"].patch(f"/api/processors/{demo.p1.pk}/", {"concurrency": 2, "autoscale_max": 8}, format="json")
    assert answer.status_code == 200, answer.content
    assert (answer.json()["concurrency"], answer.json()["autoscale_max"]) == (2, 8)
    doc = api["alice"].get(f"/api/flows/{demo.flow.pk}/graph").json()
    assert {p["name"]: p["autoscale_max"] for p in doc["processors"]}[demo.p1.name] == 8
    demo.p1.refresh_from_db()
    assert demo.p1.autoscale_max == 8


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"autoscale_max": 1}, "autoscale_max"),  # not above the concurrency (1): it could never grow
        ({"concurrency": 4, "autoscale_max": 3}, "autoscale_max"),
        ({"autoscale_max": 65}, "autoscale_max"),
        ({"autoscale_max": -1}, "autoscale_max"),
    ],
)
def test_an_autoscale_max_not_above_the_concurrency_answers_400_naming_it(
    api: dict[str, APIClient], demo: Demo, unchanged: None, body: dict[str, int], field: str
) -> None:
    error = error_of(api["alice"].patch(f"/api/processors/{demo.p1.pk}/", body, format="json"), 400)
    assert field in error["fields"], error


def test_raising_the_concurrency_past_autoscale_max_answers_400_and_keeps_the_row(
    api: dict[str, APIClient], demo: Demo
) -> None:
    """A PATCH of one of the two is checked against the other as stored: the merged row must still make sense."""
    Processor.objects.filter(pk=demo.p1.pk).update(concurrency=2, autoscale_max=4)
    error = error_of(api["alice"].patch(f"/api/processors/{demo.p1.pk}/", {"concurrency": 6}, format="json"), 400)
    assert "concurrency" in error["fields"] and "autoscale_max" in error["message"]
    demo.p1.refresh_from_db()
    assert (demo.p1.concurrency, demo.p1.autoscale_max) == (2, 4)


def test_an_autoscale_max_not_above_the_concurrency_in_a_graph_answers_400(
    api: dict[str, APIClient], demo: Demo, unchanged: None
) -> None:
    doc = api["alice"].get(f"/api/flows/{demo.flow.pk}/graph").json()
    doc["processors"][0].update(concurrency=3, autoscale_max=2)
    error = error_of(api["alice"].put(f"/api/flows/{demo.flow.pk}/graph", doc, format="json"), 400)
    assert "autoscale_max" in str(error["fields"]), error
