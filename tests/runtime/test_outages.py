"""Servers going away mid-flow: a Redis restart (AOF on) loses nothing; a PostgreSQL restart does not stop the flow
and lineage catches up."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psutil
import pytest
import redis as redislib
from django.db import OperationalError, connection
from rest_framework.authtoken.models import Token

from backend.devstack import Stack, die_with_parent, free_port
from flows.models import Call
from flows.runtime import broker, keys
from flows.runtime.envelope import child_id, new_envelope
from tests.live import daphne
from tests.rabbitmq import Node, require_server
from tests.runtime.conftest import Runtime, broker_url, redis, start
from tests.runtime.test_flow_runs import client_for
from tests.runtime.test_lifecycle import two_step

pytestmark = pytest.mark.runtime
MESSAGES = 300


def test_redis_restart_mid_flow_loses_nothing(runtime: Runtime, alice: Any, sink_repo: str, tmp_path: Path) -> None:
    stack = Stack(tmp_path / "own-redis")
    stack.run_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = stack.start_redis(port)
    own = redislib.Redis.from_url(url)
    runtime.overrides["REDIS_URL"] = url
    flow, p1, p2, s1, s2 = two_step(alice, sink_repo)
    start(p1, p2)
    token = Token.objects.create(user=alice).key
    try:
        runtime.start_agent()
        runtime.wait_status(p2, "running")
        with daphne(REDIS_URL=url) as base:
            conn = http.client.HTTPConnection(urlparse(base).netloc, timeout=30)
            headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
            ids = []
            for n in range(MESSAGES):
                conn.request("POST", f"/api/sockets/{s1.pk}/messages", json.dumps({"data": n}), headers)
                answer = conn.getresponse()
                body = answer.read()
                assert answer.status == 202, body
                ids.append(json.loads(body)["id"])
            conn.close()
        plug = flow.plugs.get()
        sink_ids = [child_id(i, str(plug.pk), 0) for i in ids]
        # Mid-flow: some messages are done, others still queued or running when Redis goes away.
        runtime.wait_for(lambda: own.exists(keys.done(sink_ids[10])), 60, "the flow to be moving")
        redis_child = stack.children[0]
        redis_child.stop()
        stack.children.clear()
        time.sleep(3)
        stack.start_redis(port)  # same data dir: the append-only file brings every queued message back

        def all_at_sink() -> bool:
            try:
                return sum(own.exists(keys.done(i)) for i in sink_ids) == MESSAGES
            except (redislib.ConnectionError, redislib.exceptions.BusyLoadingError):
                return False  # still loading its append-only file

        runtime.wait_for(all_at_sink, 180, "every message at the sink")
        runtime.wait_for(
            lambda: Call.objects.filter(socket=s2, status="succeeded").count() >= MESSAGES, 60, "lineage of every call"
        )
        assert Call.objects.filter(socket=s2, status="succeeded").count() == MESSAGES
    finally:
        runtime.stop_agents()
        stack.stop()


def restart_postgres(down_for: float, while_down: Callable[[], Any] = lambda: None) -> Any:
    """Fast-shutdown the test database's server and start it again the same way (same binary, data, port, user).
    The new server dies with this test process, like the one `make test` started."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]
    postmaster = psutil.Process(backend_pid).parent()
    assert postmaster is not None
    argv, user, cwd, env = postmaster.cmdline(), postmaster.username(), postmaster.cwd(), postmaster.environ()
    connection.close()
    postmaster.send_signal(signal.SIGINT)
    # Not our child: once it exits it stays a zombie until `make test`'s supervisor reaps it, so wait for that.
    deadline = time.monotonic() + 60
    while postmaster.is_running() and postmaster.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "PostgreSQL did not shut down"
        time.sleep(0.1)
    time.sleep(down_for)
    observed = while_down()
    as_user = {"user": user} if os.geteuid() == 0 and user != "root" else {}
    subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent(signal.SIGTERM),
        **as_user,  # type: ignore[arg-type]
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            connection.ensure_connection()
            return observed
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            connection.close()
            time.sleep(0.2)


def test_postgres_restart_mid_flow_does_not_stop_it(
    runtime: Runtime, alice: Any, sink_repo: str, any_broker: str
) -> None:
    flow, p1, p2, s1, s2 = two_step(alice, sink_repo, second="slower")
    start(p1, p2)
    runtime.start_agent()
    runtime.wait_status(p2, "running")
    client = client_for(alice)
    ids = [
        client.post(f"/api/sockets/{s1.pk}/messages", {"data": n}, format="json").json()["id"] for n in range(MESSAGES)
    ]
    plug = flow.plugs.get()
    sink_ids = [child_id(i, str(plug.pk), 0) for i in ids]
    own = redis()
    runtime.wait_for(lambda: own.exists(keys.done(sink_ids[10])), 60, "the flow to be moving")

    def at_sink() -> int:
        return sum(own.exists(keys.done(i)) for i in sink_ids)

    before = at_sink()
    during = restart_postgres(down_for=4, while_down=at_sink)
    # The flow kept moving while the database was away (topology is cached; nothing on the path writes to it) …
    assert before < during < MESSAGES, (before, during)
    runtime.wait_for(lambda: at_sink() == MESSAGES, 120, "every message at the sink")
    # … and lineage, held in Redis meanwhile, catches up.
    runtime.wait_for(
        lambda: Call.objects.filter(socket=s2, status="succeeded").count() >= MESSAGES, 60, "lineage to catch up"
    )
    assert Call.objects.filter(socket=s2, status="succeeded").count() == MESSAGES


def test_rabbitmq_restart_mid_flow_loses_nothing(runtime: Runtime, alice: Any, sink_repo: str, settings: Any) -> None:
    """Durable queues, persistent messages and publisher confirms: what RabbitMQ accepted is there after a restart,
    and the workers and the publisher wait for it (Celery's consumer reconnects; kombu's publish retries)."""
    require_server()
    node = Node()
    node.start()
    runtime.overrides["CELERY_BROKER_URL"] = node.url
    flow, p1, p2, s1, s2 = two_step(alice, sink_repo)
    start(p1, p2)
    try:
        with broker_url(settings, node.url):
            runtime.start_agent()
            runtime.wait_status(p2, "running")
            broker.publish(
                (str(s1.queue_id), new_envelope(flow_id=str(flow.pk), socket_id=str(s1.pk), payload=n))
                for n in range(MESSAGES)
            )
            plug = flow.plugs.get()
            runtime.wait_for(
                lambda: Call.objects.filter(socket=s2, status="succeeded").count() >= 10, 60, "the flow to be moving"
            )
            node.stop()  # mid-flow: some messages done, others queued, taken or being published
            time.sleep(3)
            node.start()
            runtime.wait_for(
                lambda: (
                    Call.objects.filter(socket=s2, status="succeeded").values("trace_id").distinct().count() == MESSAGES
                ),
                180,
                "every message at the sink",
            )
            firsts = Call.objects.filter(socket=s1, status="succeeded").values_list("id", flat=True).distinct()
            ids = [child_id(str(i), str(plug.pk), 0) for i in firsts]
            assert len(set(ids)) == MESSAGES
            assert all(redis().exists(keys.done(i)) for i in ids)
            assert Call.objects.filter(socket=s2, status="succeeded").count() == MESSAGES  # each once at the sink
    finally:
        runtime.stop_agents()
        node.remove()
