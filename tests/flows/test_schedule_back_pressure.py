"""Sources pause under back pressure: a scheduled socket skips its slots while its queue or a target queue is full."""

from __future__ import annotations

import time
from typing import Any

from flows.runtime import broker, keys, schedules
from flows.runtime.envelope import new_envelope
from tests.conftest import Demo


def fill(queue_id: object, flow_id: object, socket_id: object, n: int) -> None:
    broker.publish(
        [(str(queue_id), new_envelope(flow_id=str(flow_id), socket_id=str(socket_id), payload=i)) for i in range(n)]
    )


def test_a_source_skips_its_slot_while_the_queue_it_feeds_is_full(demo: Demo, db: Any) -> None:
    demo.s1.schedule = {"interval": 1}
    demo.s1.save()
    demo.s2.max_queue_length = 3
    demo.s2.save()
    demo.p1.requested_status = "running"
    demo.p1.save()
    client = broker.client()
    source, target = keys.queue(demo.s1.queue_id), keys.queue(demo.s2.queue_id)
    try:
        now = time.time()
        assert schedules.fire_due(now) == 0  # the first pass only plans the first slot
        fill(demo.s2.queue_id, demo.flow.pk, demo.s2.pk, 3)
        assert schedules.fire_due(now + 1.5) == 0
        assert client.llen(source) == 0
        client.delete(target)
        assert schedules.fire_due(now + 3) == 1
        assert client.llen(source) == 1
    finally:
        client.delete(
            source, target, keys.schedule_due(demo.s1.pk), *client.scan_iter(f"{keys.schedule_due(demo.s1.pk)}:*")
        )
