"""Servers going away mid-flow: a Redis restart (AOF on) loses nothing; a PostgreSQL restart does not stop the flow
and lineage catches up."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis as redislib
from rest_framework.authtoken.models import Token

from backend.devstack import Stack, free_port
from flows.models import Call
from flows.runtime import keys
from flows.runtime.envelope import child_id
from tests.live import daphne
from tests.runtime.conftest import Runtime, start
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
        runtime.wait_for(
            lambda: sum(own.exists(keys.done(i)) for i in sink_ids) == MESSAGES, 180, "every message at the sink"
        )
        runtime.wait_for(
            lambda: Call.objects.filter(socket=s2, status="succeeded").count() >= MESSAGES, 60, "lineage of every call"
        )
        assert Call.objects.filter(socket=s2, status="succeeded").count() == MESSAGES
    finally:
        runtime.stop_agents()
        stack.stop()
