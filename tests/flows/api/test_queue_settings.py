"""A queue's settings are acted on, never only stored: `message_ttl` dead-letters what waited too long (before it
runs), a change reaches the workers' topology at once, and `durable` is gone because every queue is."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from flows.models import Flow
from flows.runtime import broker, handler, keys
from flows.runtime.context import WorkerContext
from flows.runtime.envelope import new_envelope
from flows.runtime.executor import Limits
from tests.conftest import client_for


def test_a_ttl_change_moves_the_version_of_every_flow_the_queue_feeds(demo: Any, alice: Any) -> None:
    before = Flow.objects.get(pk=demo.flow.pk).version
    queue = demo.s2.queue
    answer = client_for(alice).patch(f"/api/queues/{queue.pk}/", {"message_ttl": 60}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["message_ttl"] == 60 and "durable" not in answer.json()
    assert Flow.objects.get(pk=demo.flow.pk).version == before + 1


def test_asking_for_a_queue_that_is_not_durable_says_every_queue_is(alice: Any, admin_user: Any) -> None:
    answer = client_for(admin_user).post("/api/queues/", {"name": "volatile", "durable": False}, format="json")
    assert answer.status_code == 400
    assert "durable" in answer.json()["error"]["fields"]


def test_a_message_older_than_its_queues_ttl_is_dead_lettered_unrun(demo: Any, alice: Any, tmp_path: Path) -> None:
    queue = demo.s2.queue
    queue.message_ttl = 5
    queue.save()
    stale = new_envelope(flow_id=str(demo.flow.pk), socket_id=str(demo.s2.pk), payload="old", tracked=False)
    stale["sent_at"] = time.time() - 60
    limits = Limits(memory_mb=512, cpu_seconds=10, open_files=64, capture_bytes=1024)
    # No executor can start here (python "false"): a message that ran would fail differently.
    context = WorkerContext(
        processor_id=str(demo.s2.processor_id), name="w", python="false", module="m", workdir=tmp_path, limits=limits
    )

    dead_letters = keys.dead_letters(demo.s2.pk)
    broker.client().delete(dead_letters)

    handler.handle(context, handler.Delivery(stale))

    [dead] = [json.loads(raw) for raw in broker.client().lrange(dead_letters, 0, -1)]
    broker.client().delete(dead_letters)
    assert dead["error_type"] == "MessageExpired" and "message_ttl of 5 s" in dead["error"]
    assert dead["envelope"]["id"] == stale["id"]
