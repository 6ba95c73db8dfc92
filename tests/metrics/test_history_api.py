"""The metrics history over REST: series maths, ranges and their errors, who sees what, and what it costs."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from backend.metrics import histogram, rollups
from backend.metrics.models import RollupBatch, SocketMinute
from flows.models import Socket
from flows.runtime import broker, keys
from tests.conftest import Demo, build_demo
from tests.factories import bulk_processors, make_flow
from tests.metrics.test_rollups import flush_into

T = 1_699_999_200  # 2023-11-14T22:00:00Z, a whole hour
P50, P95 = 0.9375, 26.875  # of the flow's first 5-minute bin (worked out in test_flow_series_sums_sockets_…)


def hist(**buckets: int) -> list[int]:
    out = histogram.empty()
    for name, count in buckets.items():
        out[int(name[1:])] = count
    return out


def minute_row(socket: Socket, t: int, **fields: Any) -> SocketMinute:
    return SocketMinute(
        minute=dt.datetime.fromtimestamp(t, tz=dt.UTC),
        flow_id=socket.flow_id,
        processor_id=socket.processor_id,
        socket=socket,
        **fields,
    )


@pytest.fixture
def history(demo: Demo) -> Demo:
    SocketMinute.objects.bulk_create(
        [
            minute_row(demo.s1, T, msgs_in=10, msgs_out=20, errors=1, bytes_in=100, bytes_out=200, time_ms=50.0,
                       time_max_ms=12.0, held_ms=2.0, hist=hist(h4=6, h6=4), depth_max=3),
            minute_row(demo.s1, T + 60, msgs_in=5, msgs_out=10, bytes_in=50, bytes_out=100, time_ms=100.0,
                       time_max_ms=40.0, hist=hist(h6=3, h8=2), depth_max=8),
            minute_row(demo.s1, T + 300, msgs_in=1, errors=1, time_ms=0.3, time_max_ms=0.4, hist=hist(h2=1)),
            minute_row(demo.s2, T + 60, msgs_in=20, errors=4, time_ms=10.0, time_max_ms=1.0, hist=hist(h3=20)),
            # Outside [T, T + 600): never counted.
            minute_row(demo.s1, T - 60, msgs_in=1000, hist=hist(h0=1000)),
            minute_row(demo.s2, T + 600, msgs_in=1000, errors=1000, hist=hist(h18=1000)),
        ]
    )  # fmt: skip
    return demo


def get(client: APIClient, path: str, **params: Any) -> Any:
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_flow_series_sums_sockets_and_minutes_per_step(api: dict[str, APIClient], history: Demo) -> None:
    body = get(api["alice"], f"/api/flows/{history.flow.pk}/metrics", start=T, end=T + 600, step=300)

    assert (body["start"], body["end"], body["step"]) == (T, T + 600, 300)
    assert body["scope"] == {"kind": "flow", "id": str(history.flow.pk), "name": "demo"}
    first, second = body["points"]
    # s1 at T and T+60, s2 at T+60; the histogram (h3=20, h4=6, h6=7, h8=2: 35 calls) summed bucket by bucket:
    # p50 falls 17.5/20 into (0.5, 1] ms, p95 0.25/2 into (25, 50] ms capped at the slowest call (40 ms).
    assert first == {
        "t": T, "in": 35, "out": 30, "errors": 5, "bytes_in": 150, "bytes_out": 300, "time_ms": 160.0,
        "time_avg_ms": pytest.approx(160.0 / 35), "time_max_ms": 40.0, "p50_ms": P50, "p95_ms": P95,
        "held_ms": 2.0, "depth_max": 8,
    }  # fmt: skip
    assert histogram.percentile(hist(h3=20, h4=6, h6=7, h8=2), 0.95, 40.0) == P95
    assert second == {
        "t": T + 300, "in": 1, "out": 0, "errors": 1, "bytes_in": 0, "bytes_out": 0, "time_ms": 0.3,
        "time_avg_ms": 0.3, "time_max_ms": 0.4, "p50_ms": pytest.approx(0.325), "p95_ms": pytest.approx(0.3925),
        "held_ms": 0.0, "depth_max": None,
    }  # fmt: skip
    assert isinstance(first["in"], int) and isinstance(first["bytes_out"], int)


def test_every_bin_is_present_and_empty_ones_are_zero(api: dict[str, APIClient], history: Demo) -> None:
    body = get(api["alice"], f"/api/processors/{history.p2.pk}/metrics", start=T, end=T + 600, step=60)

    assert body["scope"] == {"kind": "processor", "id": str(history.p2.pk), "name": "proc2"}
    assert [p["t"] for p in body["points"]] == list(range(T, T + 600, 60))
    assert [p["in"] for p in body["points"]] == [0, 20, 0, 0, 0, 0, 0, 0, 0, 0]
    empty = body["points"][0]
    assert empty == {
        "t": T, "in": 0, "out": 0, "errors": 0, "bytes_in": 0, "bytes_out": 0, "time_ms": 0.0, "time_avg_ms": None,
        "time_max_ms": None, "p50_ms": None, "p95_ms": None, "held_ms": 0.0, "depth_max": None,
    }  # fmt: skip


def test_socket_series_has_only_that_socket(api: dict[str, APIClient], history: Demo) -> None:
    body = get(api["bob"], f"/api/sockets/{history.s1.pk}/metrics/", start=T, end=T + 120, step=60)

    assert body["scope"] == {"kind": "socket", "id": str(history.s1.pk), "name": history.s1.name}
    assert [(p["in"], p["errors"], p["depth_max"]) for p in body["points"]] == [(10, 1, 3), (5, 0, 8)]
    assert body["points"][0]["time_avg_ms"] == 5.0


def test_range_accepts_iso_dates_and_rounds_to_whole_bins(api: dict[str, APIClient], history: Demo) -> None:
    url = f"/api/flows/{history.flow.pk}/metrics"
    body = get(api["alice"], url, start="2023-11-14T22:00:00Z", end="2023-11-14T22:09:59+00:00", step=300)
    assert (body["start"], body["end"], len(body["points"])) == (T, T + 600, 2)
    # A "+" left unencoded in a query string arrives as a space; a date without offset is UTC.
    response = api["alice"].get(f"{url}?start=2023-11-14T23:00:00%2001:00&end=2023-11-14T22:05:30&step=60")
    assert response.status_code == 200, response.content
    assert (response.json()["start"], response.json()["end"]) == (T, T + 360)
    # Epoch seconds with a fraction.
    assert get(api["alice"], url, start=T + 30.5, end=T + 60, step=60)["start"] == T


def test_default_range_is_the_last_hour_in_at_most_360_points(api: dict[str, APIClient], demo: Demo) -> None:
    before = time.time()
    body = get(api["alice"], f"/api/flows/{demo.flow.pk}/metrics")
    after = time.time()
    assert body["step"] == 60
    assert before - 3600 - 60 < body["start"] <= after - 3600 and before <= body["end"] < after + 60
    assert len(body["points"]) == (body["end"] - body["start"]) // 60 <= 61
    day = get(api["alice"], f"/api/flows/{demo.flow.pk}/metrics", start=T, end=T + 86400)
    assert (day["step"], len(day["points"])) == (240, 360)
    week = get(api["alice"], f"/api/flows/{demo.flow.pk}/metrics", start=T, end=T + 7 * 86400)
    assert week["step"] % 60 == 0 and 300 < len(week["points"]) <= 360


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"step": 90}, "step", "multiple of 60"),
        ({"step": 30}, "step", "greater than or equal to 60"),
        ({"step": "five"}, "step", "valid integer"),
        ({"start": "yesterday"}, "start", "epoch seconds (e.g. 1712345678) or an ISO-8601"),
        ({"end": "2023-13-45T00:00:00Z"}, "end", "ISO-8601"),
        ({"start": "nan"}, "start", "between 1970-01-01 and 9999-12-31"),
        ({"start": T + 600, "end": T}, "end", "must be before end"),
        ({"start": 4_000_000_000}, "start", "end defaults to now"),
        ({"start": T, "end": T + 3 * 86400, "step": 60}, "step", "more than 2000: give a step of at least 180"),
    ],
)
def test_bad_ranges_say_what_to_fix(
    api: dict[str, APIClient], demo: Demo, params: dict[str, Any], field: str, text: str
) -> None:
    response = api["alice"].get(f"/api/flows/{demo.flow.pk}/metrics", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"].startswith(f"{field}: ") and text in error["message"], error
    assert list(error["fields"]) == [field]


def test_at_most_2000_points(api: dict[str, APIClient], demo: Demo) -> None:
    url = f"/api/flows/{demo.flow.pk}/metrics"
    assert len(get(api["alice"], url, start=T, end=T + 2000 * 60, step=60)["points"]) == 2000
    assert api["alice"].get(url, {"start": T, "end": T + 2001 * 60, "step": 60}).status_code == 400


def test_alice_and_bob_see_the_series_charlie_and_strangers_get_404(api: dict[str, APIClient], history: Demo) -> None:
    paths = [
        f"/api/flows/{history.flow.pk}/metrics",
        f"/api/processors/{history.p1.pk}/metrics",
        f"/api/sockets/{history.s1.pk}/metrics",
    ]
    params = {"start": T, "end": T + 600}
    for path in paths:
        assert api["alice"].get(path, params).status_code == 200
        assert api["bob"].get(path, params).status_code == 200
        charlie = api["charlie"].get(path, params)
        assert charlie.status_code == 404
        assert charlie.json()["error"] == {
            "code": "not_found",
            "message": "Not found: it does not exist or you may not see it.",
        }
        # No hint through the query check either: a bad range still answers 404.
        assert api["charlie"].get(path, {"step": 7}).status_code == 404
        anonymous = api["anonymous"].get(path, params)
        assert anonymous.status_code == 401 and "Authorization: Token" in anonymous.json()["error"]["message"]
    assert api["alice"].get("/api/flows/00000000-0000-0000-0000-000000000000/metrics").status_code == 404
    assert api["alice"].get("/api/sockets/not-a-uuid/metrics").status_code == 404


def test_series_cost_a_fixed_number_of_queries(
    api: dict[str, APIClient], history: Demo, django_assert_max_num_queries: Any
) -> None:
    params = {"start": T, "end": T + 86400, "step": 60}  # 1,440 points
    for user, path in [
        ("alice", f"/api/flows/{history.flow.pk}/metrics"),
        ("bob", f"/api/flows/{history.flow.pk}/metrics"),
        ("bob", f"/api/processors/{history.p1.pk}/metrics"),
        ("bob", f"/api/sockets/{history.s1.pk}/metrics"),
    ]:
        # The token (with its user), the caller's rights (global and object ones, content types), the object, one
        # aggregate.
        with django_assert_max_num_queries(7):
            assert api[user].get(path, params).status_code == 200


def test_flows_list_has_every_visible_flow_and_nothing_for_charlie(
    api: dict[str, APIClient], history: Demo, alice: Any, django_assert_max_num_queries: Any
) -> None:
    idle = make_flow(alice, "idle")
    url = "/api/metrics/flows"
    params = {"start": T, "end": T + 600, "step": 300}

    body = get(api["alice"], url, **params)
    assert (body["start"], body["end"], body["step"]) == (T, T + 600, 300)
    assert [(f["id"], f["name"]) for f in body["flows"]] == [(str(history.flow.pk), "demo"), (str(idle.pk), "idle")]
    demo_points, idle_points = (f["points"] for f in body["flows"])
    assert [(p["in"], p["errors"], p["p95_ms"]) for p in demo_points] == [(35, 5, P95), (1, 1, pytest.approx(0.3925))]
    assert [(p["t"], p["in"], p["p50_ms"]) for p in idle_points] == [(T, 0, None), (T + 300, 0, None)]
    assert [f["name"] for f in get(api["bob"], url, **params)["flows"]] == ["demo"]
    assert get(api["charlie"], url, **params)["flows"] == []
    assert api["anonymous"].get(url, params).status_code == 401
    assert api["alice"].get(url, {"step": 61}).status_code == 400

    # More flows with history cost no more queries.
    for i in range(10):
        more = build_demo(alice, f"more{i}")
        SocketMinute.objects.bulk_create([minute_row(more.s1, T, msgs_in=i, hist=hist(h1=i))])
    with django_assert_max_num_queries(5):  # the token, rights, the flows, one aggregate
        assert len(get(api["alice"], url, **params)["flows"]) == 12


def test_top_sockets_by_errors_and_by_p95(api: dict[str, APIClient], history: Demo) -> None:
    url = "/api/metrics/top-sockets"
    s1, s2 = history.s1, history.s2

    def ranked(client: APIClient, **params: Any) -> list[tuple[str, float]]:
        body = get(client, url, start=T, end=T + 600, **params)
        return [(row["socket"], row["value"]) for row in body["sockets"]]

    assert ranked(api["alice"]) == [(s2.name, 4.0), (s1.name, 2.0)]
    assert ranked(api["bob"], by="errors", limit=1) == [(s2.name, 4.0)]
    # s1: h2=1, h4=6, h6=7, h8=2 (16 calls, slowest 40 ms): p95 is 1.2/2 into (25, 40]; s2: 19/20 into (0.5, 1].
    assert ranked(api["alice"], by="p95") == [(s1.name, pytest.approx(34.0)), (s2.name, pytest.approx(0.975))]
    row = get(api["alice"], url, start=T, end=T + 600)["sockets"][0]
    assert row == {
        "socket_id": str(s2.pk), "socket": s2.name, "processor_id": str(history.p2.pk),
        "flow_id": str(history.flow.pk), "flow": "demo", "value": 4.0,
    }  # fmt: skip
    assert ranked(api["charlie"]) == [] and ranked(api["charlie"], by="p95") == []
    assert api["anonymous"].get(url).status_code == 401
    bad = api["alice"].get(url, {"by": "p99"})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("by: ")
    assert api["alice"].get(url, {"limit": 0}).status_code == 400


def test_top_sockets_cost_a_fixed_number_of_queries(
    api: dict[str, APIClient], history: Demo, django_assert_max_num_queries: Any
) -> None:
    _, sockets = bulk_processors(history.flow, 30)
    SocketMinute.objects.bulk_create(
        minute_row(socket, T, errors=i + 1, time_max_ms=100.0, hist=hist(h9=i + 1)) for i, socket in enumerate(sockets)
    )
    for by in ("errors", "p95"):
        with django_assert_max_num_queries(5):  # the token, rights, one ranking, the sockets' names
            body = get(api["bob"], "/api/metrics/top-sockets", start=T, end=T + 600, by=by, limit=50)
        assert len(body["sockets"]) == 50


def test_rolled_up_minutes_show_in_the_series(api: dict[str, APIClient], demo: Demo) -> None:
    minute = T - 86400 * 365 * 2
    try:
        flush_into(minute, demo.s1, **{"in": 3}, time_ms=3.0, time_max=1.5, hist={4: 3})
        flush_into(minute + 60, demo.s1, **{"in": 2, "errors": 2}, time_ms=8.0, time_max=5.0, hist={5: 2})
        assert rollups.rollup_minutes(now=minute + 300) == 2
    finally:
        client = broker.client()
        client.zrem(keys.METRIC_MINUTES, str(minute), str(minute + 60))
        client.delete(keys.metric_minute(minute), keys.metric_minute(minute + 60))

    body = get(api["bob"], f"/api/sockets/{demo.s1.pk}/metrics", start=minute, end=minute + 120, step=120)
    [point] = body["points"]
    assert (point["in"], point["errors"], point["time_ms"], point["time_max_ms"]) == (5, 2, 11.0, 5.0)
    assert point["p50_ms"] == histogram.percentile(hist(h4=3, h5=2), 0.5, 5.0)


def test_a_minute_still_in_redis_counts_at_once_and_once(
    api: dict[str, APIClient], demo: Demo, minute: int, alice: Any
) -> None:
    """Found in the designer's end-to-end test: the flows list said "0 calls/h" right after a run, because the
    history read only PostgreSQL, where a minute lands GRACE_SECONDS (2 min) after it ends. The minutes still in
    Redis are added, each count once whatever stage of the rollup it is at."""
    url = f"/api/sockets/{demo.s1.pk}/metrics"

    def counted() -> tuple[int, int, Any, Any]:
        [point] = get(api["bob"], url, start=minute, end=minute + 60, step=60)["points"]
        listed = get(api["alice"], "/api/metrics/flows", start=minute, end=minute + 60, step=60)["flows"]
        top = get(api["alice"], "/api/metrics/top-sockets", start=minute, end=minute + 60)["sockets"]
        flow_in = next(f["points"][0]["in"] for f in listed if f["id"] == str(demo.flow.pk))
        return point["in"], flow_in, point["p50_ms"], [(t["socket"], t["value"]) for t in top]

    flush_into(minute, demo.s1, **{"in": 3, "errors": 1}, time_ms=3.0, time_max=1.5, hist={4: 3})
    # Being written by the workers (or waiting for the rollup): only in Redis.
    assert counted() == (3, 3, histogram.percentile(hist(h4=3), 0.5, 1.5), [(demo.s1.name, 1.0)])

    # Rolled up: only in PostgreSQL.
    assert rollups.rollup_minutes(now=minute + 300) == 1
    assert counted()[:2] == (3, 3)

    # A worker's late flush after the rollup: a new hash, added to the rows.
    flush_into(minute, demo.s1, **{"in": 2})
    assert counted()[:2] == (5, 5)

    # Taken by a rollup and written, not yet deleted (its marker is in the snapshot): counted in the rows only. And
    # taken but not yet written (no marker): counted from Redis.
    client = broker.client()
    written, pending = f"{keys.metric_minute(minute)}:rolling:written", f"{keys.metric_minute(minute)}:rolling:new"
    client.rename(keys.metric_minute(minute), written)
    client.zrem(keys.METRIC_MINUTES, str(minute))
    client.hset(pending, f"{demo.s1.pk}|in", 7)
    client.zadd(rollups.PENDING, {written: minute, pending: minute})
    RollupBatch.objects.create(key=written, rolled_at=dt.datetime.now(tz=dt.UTC))
    SocketMinute.objects.filter(socket=demo.s1).update(msgs_in=5)  # what the write of `written` added
    assert counted()[:2] == (12, 12)

    # Charlie sees none of it.
    assert get(api["charlie"], "/api/metrics/flows", start=minute, end=minute + 60, step=60)["flows"] == []
    assert get(api["charlie"], "/api/metrics/top-sockets", start=minute, end=minute + 60)["sockets"] == []


def staff_client(user: Any) -> Client:
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_admin_lists_the_minutes_of_visible_flows_read_only(history: Demo, bob: Any, charlie: Any) -> None:
    seen = staff_client(bob).get("/admin/metrics/socketminute/")
    assert seen.status_code == 200
    assert history.s1.name in seen.content.decode()
    assert b"addlink" not in seen.content  # no "Add" button
    some = SocketMinute.objects.filter(socket=history.s1).first()
    assert some is not None
    page = staff_client(bob).get(f"/admin/metrics/socketminute/{some.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    hidden = staff_client(charlie).get("/admin/metrics/socketminute/")
    assert hidden.status_code == 200
    assert history.s1.name not in hidden.content.decode()


def test_the_endpoints_are_in_the_openapi_schema(db: Any) -> None:
    paths = set(SchemaGenerator().get_schema(request=None, public=True)["paths"])
    for kind in ("flows", "processors", "sockets"):
        assert f"/api/{kind}/{{id}}/metrics/" in paths
    assert {"/api/metrics/flows/", "/api/metrics/top-sockets/"} <= paths
