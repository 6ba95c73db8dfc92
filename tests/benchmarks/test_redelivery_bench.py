# ruff: noqa: F811  (pytest fixtures imported from tests/runtime/conftest.py are parameters here)
"""Benchmark: from a processor worker's kill -9 to its messages running again (issue 15), on each broker.

A processor with one socket that sleeps 0.3 s per call (concurrency 2, so the worker holds 2 running and up to 14
prefetched messages) gets 60 messages. Once 6 are done, its worker is killed with SIGKILL. The messages it held
unacknowledged at that instant (kombu's `unacked` hash on Redis) are the ones to watch: the figure is the time from
the kill until each of them has completed, printed as first / median / last. On Redis they come back when another
worker's kombu finds them unrenewed for ELASTICCODE_VISIBILITY_TIMEOUT (10 s; every worker looks every 2 s), or the
agent's restarted worker does; on RabbitMQ the broker redelivers at once when the connection drops, to the worker
the agent starts again (there is no other). On RabbitMQ the held messages are not listed anywhere outside the broker:
they are counted (not done, minus what the queue still has ready) and taken to be the oldest not done, which is what
a FIFO queue gives a worker with prefetch.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from typing import Any

import pytest

from backend.cluster.models import Worker
from flows.runtime import broker, keys
from flows.runtime.envelope import new_envelope
from tests.factories import ProcessorFactory, SocketFactory, make_flow, make_user
from tests.rabbitmq import rabbitmq  # noqa: F401 - fixture
from tests.runtime.conftest import Runtime, any_broker, code_dir, runtime, start  # noqa: F401 - fixtures
from tests.runtime.gitrepos import make_repo, package_files

pytestmark = [pytest.mark.benchmark]

SLOW = "import time\n\ndef slow(x):\n    time.sleep(0.3)\n    return x\n"
MESSAGES = 60


def held_ids() -> set[str]:
    """Envelope ids of every message kombu holds unacknowledged on the Redis broker."""
    ids = set()
    for raw in broker.client().hvals("unacked"):
        message, _exchange, _routing_key = json.loads(raw)
        envelope = broker.decode_message(message)["envelope"]
        if isinstance(envelope, dict):
            ids.add(envelope["id"])
    return ids


@pytest.mark.django_db(transaction=True)
def test_time_from_kill_to_redelivery(runtime: Runtime, any_broker: str, tmp_path: Any) -> None:
    owner = make_user("bench", "CREATE")
    repo = tmp_path / "slow"
    make_repo(repo, package_files("ecslow", SLOW))
    flow = make_flow(owner, "redelivery")
    proc = ProcessorFactory(flow=flow, name="slow", git_url=f"file://{repo}", module="ecslow", concurrency=2, retries=0)
    socket = SocketFactory(processor=proc, name="slow", function="slow")
    start(proc)
    runtime.start_agent()
    runtime.wait_status(proc, "running")
    envelopes = [new_envelope(flow_id=str(flow.pk), socket_id=str(socket.pk), payload=n) for n in range(MESSAGES)]
    broker.publish((str(socket.queue_id), env) for env in envelopes)
    client = broker.client()
    runtime.wait_for(lambda: sum(client.exists(keys.done(e["id"])) for e in envelopes) >= 6, 60, "6 done")
    pid = Worker.objects.filter(processor=proc).exclude(pid=None).values_list("pid", flat=True).first()
    assert pid
    if any_broker != "redis":
        # Counted just before the kill: RabbitMQ requeues what the worker held the moment its connection drops, and
        # a count taken after the kill found them all ready again, and nothing held.
        ready = broker.depth(str(socket.queue_id))
        waiting = [e["id"] for e in envelopes if not client.exists(keys.done(e["id"]))]
    os.kill(pid, signal.SIGKILL)
    killed = time.time()
    if any_broker == "redis":
        held = {i for i in held_ids() if not client.exists(keys.done(i))}
    else:
        held = {i for i in waiting[: len(waiting) - ready] if not client.exists(keys.done(i))}
    assert held, "the worker held nothing when it was killed"
    finished: dict[str, float] = {}
    deadline = time.monotonic() + 120
    while len(finished) < len(held) and time.monotonic() < deadline:
        for message_id in held - set(finished):
            if client.exists(keys.done(message_id)):
                finished[message_id] = time.time() - killed
        time.sleep(0.05)
    assert len(finished) == len(held), f"{len(held) - len(finished)} held messages never ran again"
    delays = sorted(finished.values())
    print(
        f"{any_broker} broker: {len(held)} messages held by the killed worker ran again "
        f"{delays[0]:.1f} s / {statistics.median(delays):.1f} s / {delays[-1]:.1f} s after the kill (first/median/last)"
    )
