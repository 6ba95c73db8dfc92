"""Back pressure bounds a queue, and running workers fill the live metrics: real agent, real workers, real Redis."""

from __future__ import annotations

import time
from typing import Any

import pytest

from backend.metrics import live
from flows.models import Call
from flows.runtime import broker
from flows.runtime.envelope import new_envelope
from tests.runtime.conftest import Runtime, start
from tests.runtime.test_lifecycle import depth, two_step

pytestmark = pytest.mark.runtime
MESSAGES = 200
BOUND = 5


def test_a_full_queue_holds_its_upstream_and_nothing_is_lost(
    runtime: Runtime, any_broker: str, alice: Any, sink_repo: str
) -> None:
    flow, p1, p2, s1, s2 = two_step(alice, sink_repo, first="relay", second="slow", concurrency=1)
    s2.max_queue_length = BOUND
    s2.save()
    start(p1, p2)
    runtime.start_agent()
    runtime.wait_status(p1, "running")
    runtime.wait_status(p2, "running")
    broker.publish(
        [
            (str(s1.queue_id), new_envelope(flow_id=str(flow.pk), socket_id=str(s1.pk), payload=n))
            for n in range(MESSAGES)
        ]
    )
    deepest, upstream_waiting = 0, 0
    deadline = time.monotonic() + 60
    while (depth(s1) or depth(s2)) and time.monotonic() < deadline:
        deepest = max(deepest, depth(s2))
        upstream_waiting = max(upstream_waiting, depth(s1))
        time.sleep(0.01)
    # `second` takes 10 ms a message and `first` about 1 ms: without the bound its queue would grow to ~180.
    assert BOUND - 1 <= deepest <= BOUND + 1, f"the bounded queue reached {deepest}"
    assert upstream_waiting > MESSAGES / 2  # the hold went upstream: messages waited in the first queue
    runtime.wait_for(
        lambda: Call.objects.filter(socket=s2, status="succeeded").count() == MESSAGES, 60, "every message to arrive"
    )

    # The hold is visible live: the first socket's seconds carry held time; every call is counted once, in the
    # second it finished (flushed just after that second ends).
    def totals() -> tuple[float, int]:
        seconds = live.flow_seconds(str(flow.pk), int(time.time()), window=120)
        held = sum(second["sockets"].get(str(s1.pk), live.empty_counts())["held_ms"] for second in seconds)
        ran = sum(second["sockets"].get(str(s2.pk), live.empty_counts())["in"] for second in seconds)
        return held, ran

    runtime.wait_for(lambda: totals()[1] >= MESSAGES, 5, "the last second to be flushed")
    held, ran = totals()
    assert held > 500
    assert ran == MESSAGES
