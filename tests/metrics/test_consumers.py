"""The live websockets through the real ASGI stack (auth middleware, router, consumers), the real channel layer on
the embedded Redis, and the real worker-side collector."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client
from rest_framework.authtoken.models import Token

from backend.asgi import application
from backend.metrics import live
from backend.metrics.collector import Collector
from backend.metrics.events import CLOSE_BAD_FRAME, CLOSE_FORBIDDEN_ORIGIN, CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from backend.metrics.reporting import settle, status_changed
from flows.runtime import broker, keys
from flows.runtime.envelope import new_envelope
from tests.conftest import Demo, build_demo
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)
HOST = [(b"host", b"testserver")]


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run a scenario on an event loop of its own, in a thread of its own: the e2e tests' Playwright keeps a loop
    running in the main thread for the whole session."""

    async def call() -> Any:
        return await fn()

    def in_thread() -> Any:
        try:
            return async_to_sync(call)()
        finally:
            connections.close_all()  # the consumers' queries ran in this thread: do not leave its sessions open

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(in_thread).result()


def token_headers(user: Any) -> list[tuple[bytes, bytes]]:
    token, _ = Token.objects.get_or_create(user=user)
    return [*HOST, (b"authorization", f"Token {token.key}".encode())]


def session_headers(user: Any, origin: str = "http://testserver") -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    return [*HOST, (b"cookie", cookie.encode()), (b"origin", origin.encode())]


async def refused(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[dict[str, Any], int]:
    """The error frame and close code of a refused connection."""
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    error = await communicator.receive_json_from(timeout=5)
    close = await communicator.receive_output(timeout=5)
    assert close["type"] == "websocket.close"
    await communicator.wait()
    return error, close["code"]


async def frame_of(communicator: WebsocketCommunicator, kind: str, timeout: float = 5) -> dict[str, Any]:
    """The next frame of `kind`, skipping others (depths arrive every second)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await communicator.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        if frame["type"] == kind:
            return frame


# Handshake: who may connect ----------------------------------------------------------------------------------------


def test_it_closes_4401_for_an_anonymous_client(demo: Demo) -> None:
    error, code = run(lambda: refused(f"/ws/flows/{demo.flow.pk}/", HOST))
    assert code == CLOSE_UNAUTHENTICATED
    assert error == {"type": "error", "code": 4401, "message": error["message"]}
    assert "log in" in error["message"]


def test_it_closes_4401_with_the_reason_for_a_bad_token(demo: Demo) -> None:
    headers = [*HOST, (b"authorization", b"Token not-a-real-key")]
    error, code = run(lambda: refused(f"/ws/flows/{demo.flow.pk}/", headers))
    assert code == CLOSE_UNAUTHENTICATED
    assert "token is not valid" in error["message"]


def test_charlie_cannot_tell_alices_flow_from_a_missing_one(demo: Demo, charlie: Any) -> None:
    headers = token_headers(charlie)
    hidden = run(lambda: refused(f"/ws/flows/{demo.flow.pk}/", headers))
    missing = run(lambda: refused(f"/ws/flows/{uuid.uuid4()}/", headers))
    not_an_id = run(lambda: refused("/ws/flows/<script>/", headers))
    assert [hidden[1], missing[1], not_an_id[1]] == [CLOSE_NOT_FOUND] * 3
    assert "does not exist or you may not see it" in hidden[0]["message"]


def test_it_closes_4403_for_a_foreign_origin(demo: Demo, alice: Any) -> None:
    headers = session_headers(alice, origin="https://evil.example")
    error, code = run(lambda: refused(f"/ws/flows/{demo.flow.pk}/", headers))
    assert code == CLOSE_FORBIDDEN_ORIGIN
    assert "evil.example" in error["message"]


def test_it_closes_4404_on_an_unknown_path(alice: Any) -> None:
    headers = token_headers(alice)
    error, code = run(lambda: refused("/ws/nothing-here/", headers))
    assert code == CLOSE_NOT_FOUND
    assert "/ws/flows/<id>/" in error["message"]


# A watching browser -------------------------------------------------------------------------------------------------


def test_bob_with_a_session_gets_the_snapshot_then_ticks_and_status(demo: Demo, bob: Any) -> None:
    collector = Collector(worker="w-test", processor_id=str(demo.p1.pk), flow_id=str(demo.flow.pk), concurrency=2)

    headers = session_headers(bob)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        communicator = WebsocketCommunicator(application, f"/ws/flows/{demo.flow.pk}/", headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        snapshot = await frame_of(communicator, "snapshot")
        for ms in (1.0, 3.0, 40.0):
            collector.record(flow_id=str(demo.flow.pk), socket_id=str(demo.s1.pk), duration_ms=ms, bytes_in=100, out=1)
        collector.flush(everything=True)
        tick = await frame_of(communicator, "tick")
        demo.p1.status, demo.p1.status_message = "running", "1 worker"
        settle(status_changed([demo.p1]))
        status = await frame_of(communicator, "status")
        await communicator.disconnect()
        return snapshot, tick, status

    snapshot, tick, status = run(scenario)
    assert snapshot["flow_id"] == str(demo.flow.pk)
    assert {p["id"] for p in snapshot["processors"]} == {str(demo.p1.pk), str(demo.p2.pk)}
    counts = tick["sockets"][str(demo.s1.pk)]
    assert (counts["in"], counts["out"], counts["bytes_in"], counts["time_max"]) == (3, 3, 300, 40.0)
    assert sum(counts["hist"]) == 3
    assert tick["worker"] == "w-test" and tick["processor_id"] == str(demo.p1.pk)
    assert status["processors"] == [
        {"id": str(demo.p1.pk), "status": "running", "status_message": "1 worker", "requested_status": "stopped"}
    ]


def test_a_reconnecting_client_gets_the_last_minute_first(demo: Demo, alice: Any) -> None:
    """The channel layer is at most once: what a client missed while away comes back in the snapshot."""
    flow_id, socket_id = str(demo.flow.pk), str(demo.s2.pk)
    for worker in ("w-a", "w-b"):  # two workers' counts for the same second add up
        collector = Collector(worker=worker, processor_id=str(demo.p2.pk), flow_id=flow_id, concurrency=1)
        for _ in range(4):
            collector.record(flow_id=flow_id, socket_id=socket_id, duration_ms=2.0, bytes_in=10)
        collector.record(
            flow_id=flow_id,
            socket_id=socket_id,
            duration_ms=5.0,
            bytes_in=10,
            error={
                "socket_id": socket_id,
                "message_id": "m",
                "trace_id": "t",
                "error": "x",
                "error_type": "E",
                "at": 0,
            },
        )
        collector.flush(everything=True)
    time.sleep(1.05)  # the snapshot reads finished seconds only

    headers = token_headers(alice)

    async def scenario() -> dict[str, Any]:
        communicator = WebsocketCommunicator(application, f"/ws/flows/{flow_id}/", headers=headers)
        await communicator.connect()
        snapshot = await frame_of(communicator, "snapshot")
        await communicator.send_json_to({"type": "resync"})
        again = await frame_of(communicator, "snapshot")
        await communicator.disconnect()
        assert again["seconds"] == snapshot["seconds"]
        return snapshot

    snapshot = run(scenario)
    merged = live.empty_counts()
    for second in snapshot["seconds"]:
        if socket_id in second["sockets"]:
            live.add_counts(merged, second["sockets"][socket_id])
    assert (merged["in"], merged["errors"], merged["bytes_in"]) == (10, 2, 100)
    assert merged["time_max"] == 5.0
    assert {w["name"] for w in snapshot["workers"]} >= {"w-a", "w-b"}


def test_queue_depths_arrive_about_once_a_second_with_the_bound(demo: Demo, alice: Any) -> None:
    demo.s2.max_queue_length = 10
    demo.s2.save()
    live.directory._at = 0  # the test changed a bound just now
    envelopes = [new_envelope(flow_id=str(demo.flow.pk), socket_id=str(demo.s2.pk), payload=n) for n in range(7)]
    broker.publish([(str(demo.s2.queue_id), env) for env in envelopes])

    headers = token_headers(alice)

    async def scenario() -> dict[str, Any]:
        communicator = WebsocketCommunicator(application, f"/ws/flows/{demo.flow.pk}/", headers=headers)
        await communicator.connect()
        await frame_of(communicator, "snapshot")
        depths = await frame_of(communicator, "depths", timeout=4)
        await communicator.disconnect()
        return depths

    try:
        depths = run(scenario)
    finally:
        broker.client().delete(keys.queue(demo.s2.queue_id))
    assert depths["sockets"][str(demo.s2.pk)] == {"depth": 7, "max": 10, "held": False}
    assert depths["sockets"][str(demo.s1.pk)]["depth"] == 0


# Bad frames ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "binary"),
    [
        ("not json", False),
        (json.dumps({"type": "subscribe"}), False),
        (json.dumps([1, 2]), False),
        ("x", True),
        ("[" * 100_000 + "]" * 100_000, False),  # issue 14: too deep to read is a bad frame too, not a crash
    ],
)
def test_a_bad_frame_gets_a_clean_4400(demo: Demo, alice: Any, frame: str, binary: bool) -> None:
    headers = token_headers(alice)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        communicator = WebsocketCommunicator(application, f"/ws/flows/{demo.flow.pk}/", headers=headers)
        await communicator.connect()
        await frame_of(communicator, "snapshot")
        await communicator.send_json_to({"type": "ping"})
        pong = await frame_of(communicator, "pong")
        if binary:
            await communicator.send_to(bytes_data=frame.encode())
        else:
            await communicator.send_to(text_data=frame)
        error = await frame_of(communicator, "error")
        close = await communicator.receive_output(timeout=5)
        await communicator.wait()
        return pong, error, close

    pong, error, close = run(scenario)
    assert pong["type"] == "pong"
    assert error["code"] == CLOSE_BAD_FRAME and close == {"type": "websocket.close", "code": CLOSE_BAD_FRAME}


def test_a_tap_on_a_plug_streams_what_a_worker_emits_to_a_viewer(demo: Demo, bob: Any) -> None:
    """bob (view right only) taps the demo's plug over the flow's websocket; a worker's tap cache sees the watch and
    its events arrive as `tap` frames. A plug of another flow, or a fifth tap, gets an error frame, not a close."""
    from flows.runtime.taps import TapCache

    other = build_demo(make_user("dave", "CREATE"), name="other")
    headers = token_headers(bob)
    plug_id = str(demo.plug.pk)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        communicator = WebsocketCommunicator(application, f"/ws/flows/{demo.flow.pk}/", headers=headers)
        await communicator.connect()
        await frame_of(communicator, "snapshot")
        await communicator.send_json_to({"type": "tap", "plug": plug_id, "rate": 50})
        tapping = await frame_of(communicator, "tapping")
        deadline = time.monotonic() + 10
        cache = TapCache()
        while plug_id not in cache.active(str(demo.flow.pk)) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            cache = TapCache()  # a worker reads the taps once a second: a fresh cache reads them now
        tap = cache.active(str(demo.flow.pk))[plug_id]
        assert cache.admit(plug_id, tap)
        cache.emit(
            [(plug_id, {"kind": "plug", "name": demo.plug.name, "payload": '"hello"', "message_id": "m1"})],
            {plug_id: tap},
        )
        event = await frame_of(communicator, "tap")
        await communicator.send_json_to({"type": "tap", "plug": str(other.plug.pk)})
        foreign = await frame_of(communicator, "error")
        await communicator.send_json_to({"type": "untap", "target": plug_id})
        await communicator.disconnect()
        return tapping, event, foreign, {"type": "done"}

    tapping, event, foreign, _ = run(scenario)
    assert tapping == {"type": "tapping", "target": plug_id, "kind": "plug", "sample": 1.0, "rate": 50.0}
    assert event["target"] == plug_id and event["events"][0]["payload"] == '"hello"'
    assert foreign["message"] == f"no plug {other.plug.pk} in this flow"


# The cluster view ------------------------------------------------------------------------------------------------------


def test_the_cluster_view_shows_each_user_only_their_own(demo: Demo, alice: Any, charlie: Any, admin_user: Any) -> None:
    flow_id = str(demo.flow.pk)
    collector = Collector(worker="w-cluster", processor_id=str(demo.p1.pk), flow_id=flow_id, concurrency=1)
    collector.record(flow_id=flow_id, socket_id=str(demo.s1.pk), duration_ms=1.0, bytes_in=5)
    collector.flush(everything=True)
    broker.client().hset(
        keys.METRIC_NODES,
        "node-x",
        json.dumps({"cpu_percent": 12.5, "memory_percent": 40, "memory_used_mb": 1, "memory_total_mb": 2,
                    "load1": 0.5, "at": time.time()}),
    )  # fmt: skip
    from backend.cluster.models import Node

    Node.objects.create(name="node-x", hostname="x", status="online")
    time.sleep(1.05)

    async def watch(headers: list[tuple[bytes, bytes]]) -> tuple[dict[str, Any], dict[str, Any]]:
        communicator = WebsocketCommunicator(application, "/ws/metrics/", headers=headers)
        await communicator.connect()
        snapshot = await frame_of(communicator, "snapshot")
        live_frame = await frame_of(communicator, "cluster", timeout=4)
        await communicator.disconnect()
        return snapshot, live_frame

    try:
        alice_headers, charlie_headers, admin_headers = (token_headers(u) for u in (alice, charlie, admin_user))
        alice_view = run(lambda: watch(alice_headers))
        charlie_view = run(lambda: watch(charlie_headers))
        admin_view = run(lambda: watch(admin_headers))
    finally:
        broker.client().hdel(keys.METRIC_NODES, "node-x")
    alice_snapshot = alice_view[0]
    assert any(flow_id in second["flows"] for second in alice_snapshot["seconds"])
    assert any(w["name"] == "w-cluster" for w in alice_snapshot["workers"])
    assert alice_snapshot["nodes"] == []  # no cluster right
    for frame in charlie_view:
        assert frame["flows"] == [] and frame["workers"] == [] and frame["nodes"] == []
        assert frame["top_errors"] == [] and frame["deepest"] == []
        assert all(second["flows"] == {} for second in frame.get("seconds", []))
    nodes = {n["name"]: n for n in admin_view[1]["nodes"]}
    assert nodes["node-x"]["cpu_percent"] == 12.5
