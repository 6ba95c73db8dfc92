"""Many nodes with real agents as separate processes (issue 17): replicas spread over three nodes, a node killed
with SIGKILL (agent and workers) while 2,000 messages flow loses none and completes none twice at the sink, and a
live move under load loses nothing; replicas
grow under a slow backlog and shrink when idle. Nodes here are agents with distinct names on this machine's loopback; the
network-namespace variant is test_netns.py."""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest
from django.db.models import Count

from backend.cluster.models import Deployment, Node, ScaleEvent, Worker
from flows.models import Call, Processor, Socket
from flows.runtime import broker, keys
from flows.runtime.envelope import child_id, new_envelope
from tests.conftest import client_for
from tests.factories import PlugFactory, ProcessorFactory, SocketFactory, make_flow
from tests.runtime.conftest import Runtime, start

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(600)]
MESSAGES = 2000
NODES = {"ELASTICCODE_NODE_CPUS": "2", "ELASTICCODE_NODE_OVERSUBSCRIBE": "0", "ELASTICCODE_NODE_DOWN_AFTER": "6"}


def pipeline(owner: Any, repo: str, *, replicas: int, sink_node: str = "") -> tuple[Processor, Processor, Socket]:
    """relay (replicas over the nodes) → sink (`slow`: 10 ms a call), each replica one CPU slot."""
    flow = make_flow(owner, "spread")
    relay = ProcessorFactory(
        flow=flow, name="relay", git_url=repo, ref="main", module="ecsink", replicas=replicas, retries=0
    )
    sink = ProcessorFactory(flow=flow, name="sink", git_url=repo, ref="main", module="ecsink", node=sink_node)
    entry = SocketFactory(processor=relay, name="in", function="relay")
    out = SocketFactory(processor=sink, name="out", function="slow")
    PlugFactory(source=entry, target=out, name="in-out")
    return relay, sink, entry


def send_many(entry: Socket, count: int) -> list[str]:
    """`count` messages into `entry`'s queue in one publish; the ids the sink will see (child of the plug)."""
    envelopes = [
        new_envelope(flow_id=str(entry.flow_id), socket_id=str(entry.pk), payload=n, socket_name=entry.name)
        for n in range(count)
    ]
    broker.publish((str(entry.queue_id), envelope) for envelope in envelopes)
    plug = entry.flow.plugs.get()
    return [child_id(envelope["id"], str(plug.pk), 0) for envelope in envelopes]


def arrived(ids: list[str]) -> int:
    client = broker.client()
    with client.pipeline(transaction=False) as pipe:
        for message_id in ids:
            pipe.exists(keys.done(message_id))
        return sum(pipe.execute())


def placed(processor: Processor) -> list[tuple[str, str]]:
    rows = Deployment.objects.filter(processor=processor).select_related("node").order_by("replica", "created_at")
    return [(d.node.name, d.status) for d in rows]


def running_on(runtime: Runtime, processor: Processor, nodes: set[str], timeout: float = 120) -> None:
    def check() -> bool:
        processor.refresh_from_db()
        rows = placed(processor)
        return (
            processor.status == "running"
            and len(rows) == processor.replicas_wanted
            and {n for n, _ in rows} <= nodes
            and all(status == "running" for _, status in rows)
        )

    runtime.wait_for(check, timeout, f"{processor.name} running on {sorted(nodes)}: {placed(processor)}")


def completed_twice(runtime: Runtime, sink: str = "out") -> list[Any]:
    """Once the sink's lineage is (nearly) all written: the traces whose sink call succeeded more than once."""
    runtime.wait_for(
        lambda: Call.objects.filter(socket__name=sink, status="succeeded").count() >= MESSAGES - 50,
        60,
        "lineage of the sink's calls",
    )
    succeeded = Call.objects.filter(socket__name=sink, status="succeeded")
    return list(succeeded.values("trace_id").annotate(n=Count("id")).filter(n__gt=1))


def joined(runtime: Runtime, count: int) -> None:
    """Wait for `count` nodes online: placement places on the nodes it knows, and moves nothing back by itself."""
    runtime.wait_for(lambda: Node.objects.filter(status="online").count() == count, 60, f"{count} nodes to join")


def kill_node(runtime: Runtime, agent: Any) -> None:
    """SIGKILL the agent and everything under it (its Celery workers and their executors) at once, as a machine
    that loses power: nothing gets to shut down warmly or say goodbye."""
    tree = [psutil.Process(agent.pid), *psutil.Process(agent.pid).children(recursive=True)]
    for proc in tree:
        proc.kill()
    psutil.wait_procs(tree, timeout=10)


def test_a_node_killed_mid_flow_loses_nothing_and_completes_nothing_twice(
    runtime: Runtime, alice: Any, sink_repo: str
) -> None:
    agents = {name: runtime.start_agent(name, **NODES) for name in ("n1", "n2", "n3")}
    joined(runtime, 3)
    relay, sink, entry = pipeline(alice, sink_repo, replicas=3)
    start(relay, sink)
    running_on(runtime, relay, {"n1", "n2", "n3"}, timeout=180)
    running_on(runtime, sink, {"n1", "n2", "n3"})
    # Spread: one relay replica per node, each a Celery worker of its own.
    assert sorted(n for n, _ in placed(relay)) == ["n1", "n2", "n3"]
    assert Worker.objects.filter(processor=relay, status="running").count() == 3
    victim = placed(sink)[0][0]  # the sink's node: it loses a relay replica and the sink

    ids = send_many(entry, MESSAGES)
    runtime.wait_for(lambda: arrived(ids) >= 100, 120, "the flow to be moving")
    killed_at = time.monotonic()
    kill_node(runtime, agents[victim])
    survivors = {"n1", "n2", "n3"} - {victim}

    # Down after the heartbeat window (6 s here), its replicas placed on the others and running there.
    runtime.wait_for(lambda: Node.objects.get(name=victim).status == "down", 30, f"{victim} to be down")
    running_on(runtime, relay, survivors)
    running_on(runtime, sink, survivors)
    recovered = time.monotonic() - killed_at
    print(f"\nfailover: node {victim} killed → its replicas running elsewhere in {recovered:.1f} s")
    assert recovered < 30 + 6  # the 30 s, plus this test's heartbeat window

    runtime.wait_for(lambda: arrived(ids) == MESSAGES, 300, f"all {MESSAGES} messages at the sink")
    # None twice: each message's sink call succeeded at most once (a redelivered one finds its done mark).
    assert completed_twice(runtime) == []
    assert Worker.objects.filter(agent__node__name=victim, status="lost").exists()


def test_a_live_move_under_load_loses_nothing(runtime: Runtime, alice: Any, sink_repo: str) -> None:
    for name in ("n1", "n2"):
        runtime.start_agent(name, **NODES)
    joined(runtime, 2)
    relay, sink, entry = pipeline(alice, sink_repo, replicas=1, sink_node="n2")
    Processor.objects.filter(pk=relay.pk).update(node="")  # placed by the strategy: n1 is the least loaded
    start(relay, sink)
    running_on(runtime, relay, {"n1"}, timeout=180)
    running_on(runtime, sink, {"n2"})

    ids = send_many(entry, 1000)
    runtime.wait_for(lambda: arrived(ids) >= 50, 120, "the flow to be moving")
    started = time.monotonic()
    answer = client_for(alice).post(f"/api/processors/{relay.pk}/move", {"node": "n2"}, format="json")
    assert answer.status_code == 200, answer.content
    assert [(p["node"], p["moving_to"]) for p in answer.json()["placement"]] == [("n1", "n2"), ("n2", None)]
    # The old worker stops only once the new one consumes: the queue always has a consumer.
    running_on(runtime, relay, {"n2"})
    runtime.wait_for(lambda: placed(relay) == [("n2", "running")], 60, "the old replica to go")
    print(f"\nmove: relay n1 → n2 done in {time.monotonic() - started:.1f} s under load")
    runtime.wait_for(lambda: arrived(ids) == 1000, 300, "all 1,000 messages at the sink")
    assert Worker.objects.get(processor=relay, agent__node__name="n1").status == "stopped"


def test_replicas_grow_under_a_slow_backlog_and_shrink_when_idle(runtime: Runtime, alice: Any, sink_repo: str) -> None:
    scale = {"ELASTICCODE_SCALE_DEPTH": "20", "ELASTICCODE_SCALE_AFTER": "2", "ELASTICCODE_SCALE_IDLE": "3"}
    for name in ("n1", "n2"):
        runtime.start_agent(name, **NODES, **scale)
    joined(runtime, 2)
    flow = make_flow(alice, "backlog")
    slow = ProcessorFactory(
        flow=flow, name="slow", git_url=sink_repo, ref="main", module="ecsink", replicas=1, replicas_max=2
    )
    entry = SocketFactory(processor=slow, name="in", function="slower")  # 100 ms a call
    start(slow)
    running_on(runtime, slow, {"n1", "n2"}, timeout=180)
    assert len(placed(slow)) == 1

    envelopes = [new_envelope(flow_id=str(flow.pk), socket_id=str(entry.pk), payload=n) for n in range(300)]
    broker.publish((str(entry.queue_id), envelope) for envelope in envelopes)
    backlog_at = time.monotonic()
    runtime.wait_for(lambda: len(placed(slow)) == 2, 60, "a second replica")
    running_on(runtime, slow, {"n1", "n2"})
    print(f"\nautoscale: backlog of 300 → a second replica running in {time.monotonic() - backlog_at:.1f} s")
    assert sorted(n for n, _ in placed(slow)) == ["n1", "n2"]
    grow = ScaleEvent.objects.get(processor=slow, action="grow")
    assert (
        grow.reason.startswith(("300 messages waiting", "29", "28", "27")) and "per replica, above 20)" in grow.reason
    )

    runtime.wait_for(lambda: broker.depth(str(entry.queue_id)) == 0, 120, "the backlog to drain")
    runtime.wait_for(lambda: len(placed(slow)) == 1, 60, "the extra replica to go when idle")
    assert ScaleEvent.objects.filter(processor=slow, action="shrink").count() == 1
    running_on(runtime, slow, {"n1", "n2"})
