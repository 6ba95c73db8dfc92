"""Placement passes against the database (backend/cluster/placement.py): CPU slots, spreading, pins, schedulers and
their strategies, nodes going down, replicas lowered, stopped processors releasing their slots, and why a processor
waits. The agents that run what is placed are tested with real processes in test_nodes.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from backend.cluster import autoscale, placement
from backend.cluster.models import Agent, Deployment, Node, ScaleEvent, Scheduler, Worker
from flows.models import Processor
from flows.runtime import broker
from flows.runtime.envelope import new_envelope
from tests.conftest import Demo
from tests.factories import SocketFactory


def node(name: str, cpus: int = 2, *, oversubscribe: bool = False, ago: float = 0, host: str = "") -> Node:
    return Node.objects.create(
        name=name,
        hostname=host or f"host-{name}",
        cpus=cpus,
        oversubscribe=oversubscribe,
        status="online",
        last_heartbeat=timezone.now() - timedelta(seconds=ago),
    )


def want(processor: Processor, **fields: Any) -> Processor:
    Processor.objects.filter(pk=processor.pk).update(requested_status="running", **fields)
    processor.refresh_from_db()
    return processor


def where(processor: Processor) -> list[tuple[int, str]]:
    return sorted(
        (d.replica + 1, d.node.name) for d in Deployment.objects.filter(processor=processor).select_related("node")
    )


def test_replicas_spread_over_nodes_within_their_cpu_slots(demo: Demo) -> None:
    node("n1", 4)
    node("n2", 2)
    node("n3", 2)
    big = want(demo.p1, replicas=3, concurrency=2)
    done = placement.plan()
    assert done is not None
    # One replica per node (spread first), each taking 2 of its node's slots.
    assert where(big) == [(1, "n1"), (2, "n2"), (3, "n3")]
    assert sorted(Deployment.objects.values_list("cpus", flat=True)) == [2, 2, 2]

    # n2 and n3 are full; n1 has 2 slots left: a second processor of 2 goes there, a third waits and says why.
    second = want(demo.p2, concurrency=2)
    placement.plan()
    assert where(second) == [(1, "n1")]
    third = want(Processor.objects.create(flow=demo.flow, name="p3", git_url="x", module="m"), concurrency=1)
    placement.plan()
    assert where(third) == []
    third.refresh_from_db()
    assert third.status == "starting"
    assert third.status_message == (
        "waiting for a node: replica 1 needs 1 free CPU slot; the most any allowed node has is 0 (n1)"
    )
    # Its messages wait; when a node with room joins, it runs there.
    node("n4", 1)
    placement.plan()
    assert where(third) == [(1, "n4")]


def test_an_oversubscribed_node_takes_what_does_not_fit(demo: Demo) -> None:
    node("laptop", 1, oversubscribe=True)
    want(demo.p1, concurrency=4)
    want(demo.p2, concurrency=4, replicas=2)
    placement.plan()
    assert where(demo.p1) == [(1, "laptop")]
    assert where(demo.p2) == [(1, "laptop"), (2, "laptop")]  # one node: both replicas on it


def test_a_pin_and_a_scheduler_restrict_where(demo: Demo) -> None:
    n1, n2 = node("n1", 4), node("n2", 4, host="radiant")
    node("n3", 8)
    pinned = want(demo.p1, node="radiant")  # the seed's `-h radiant`: the host name
    Scheduler.objects.create(name="sched1").nodes.set([n1, n2])
    grouped = want(demo.p2, scheduler="sched1", replicas=3)
    placement.plan()
    assert where(pinned) == [(1, "n2")]
    # Its scheduler has two nodes: two replicas on them, the third on one of them too (n3 is not its).
    assert {n for _, n in where(grouped)} == {"n1", "n2"} and len(where(grouped)) == 3

    lonely = want(Processor.objects.create(flow=demo.flow, name="p3", git_url="x", module="m"), node="n9")
    placement.plan()
    lonely.refresh_from_db()
    assert lonely.status_message == "waiting for a node: it is pinned to node n9, which is not online"


def test_a_packed_scheduler_fills_the_busiest_node_first(demo: Demo) -> None:
    nodes = [node("n1", 4), node("n2", 4)]
    Scheduler.objects.create(name="dense", strategy="packed").nodes.set(nodes)
    Scheduler.objects.create(name="spread").nodes.set(nodes)
    for i in range(3):
        want(Processor.objects.create(flow=demo.flow, name=f"dense{i}", git_url="x", module="m"), scheduler="dense")
    placement.plan()
    assert sorted(Deployment.objects.values_list("node__name", flat=True)) == ["n1", "n1", "n1"]
    for i in range(2):
        want(Processor.objects.create(flow=demo.flow, name=f"spread{i}", git_url="x", module="m"), scheduler="spread")
    placement.plan()
    spread = Deployment.objects.filter(processor__scheduler="spread").values_list("node__name", flat=True)
    assert sorted(spread) == ["n2", "n2"]  # the least loaded: n2 had 4 free, n1 had 1

    Scheduler.objects.filter(name="dense").update(strategy="nope")
    odd = want(Processor.objects.create(flow=demo.flow, name="odd", git_url="x", module="m"), scheduler="dense")
    placement.plan()
    odd.refresh_from_db()
    assert "unknown placement strategy 'nope'" in odd.status_message


def test_a_silent_node_goes_down_and_its_replicas_move(demo: Demo, settings: Any) -> None:
    settings.ELASTICCODE_NODE_DOWN_AFTER = 15
    n1 = node("n1", 2)
    node("n2", 2)
    proc = want(demo.p1, replicas=2)
    placement.plan()
    assert where(proc) == [(1, "n1"), (2, "n2")]
    agent = Agent.objects.create(name="agent@n1", node=n1, status="online", last_heartbeat=timezone.now())
    Worker.objects.create(name="w@n1", processor=proc, agent=agent, status="running")

    Node.objects.filter(name="n1").update(last_heartbeat=timezone.now() - timedelta(seconds=16))
    Agent.objects.filter(pk=agent.pk).update(last_heartbeat=timezone.now() - timedelta(seconds=16))
    done = placement.plan()
    assert done is not None and done.down == ["n1"] and done.evicted == 1
    assert Node.objects.get(name="n1").status == "down" and Agent.objects.get(pk=agent.pk).status == "down"
    assert Worker.objects.get(name="w@n1").status == "lost"
    # Replica 1 had only n2 left: it runs beside replica 2 there rather than not at all.
    assert where(proc) == [(1, "n2"), (2, "n2")]

    # The node comes back: it rejoins, and nothing moves back unless asked (no churn).
    Node.objects.filter(name="n1").update(status="online", last_heartbeat=timezone.now())
    placement.plan()
    assert where(proc) == [(1, "n2"), (2, "n2")]


def test_fewer_replicas_remove_the_highest_and_a_stopped_processor_frees_its_slots(demo: Demo) -> None:
    node("n1", 8)
    node("n2", 8)
    node("n3", 8)
    proc = want(demo.p1, replicas=3)
    placement.plan()
    assert [r for r, _ in where(proc)] == [1, 2, 3]
    want(proc, replicas=1)
    done = placement.plan()
    assert done is not None and done.removed == 2 and [r for r, _ in where(proc)] == [1]

    Processor.objects.filter(pk=proc.pk).update(requested_status="stopped")
    placement.plan()
    assert where(proc) != []  # its agent has not stopped it yet: the slots stay taken
    Deployment.objects.filter(processor=proc).update(status="stopped")
    placement.plan()
    assert where(proc) == []
    proc.refresh_from_db()
    assert proc.status == "stopped"


def test_the_processor_status_sums_its_replicas(demo: Demo) -> None:
    node("n1")
    node("n2")
    proc = want(demo.p1, replicas=3)
    placement.plan()
    first, second = Deployment.objects.filter(processor=proc).order_by("replica")[:2]
    Deployment.objects.filter(pk=first.pk).update(status="running", status_message="running commit abc on n1")
    Deployment.objects.filter(pk=second.pk).update(status="starting", status_message="building the venv")
    from backend.cluster.status import refresh_status

    refresh_status(proc)
    assert proc.status == "running"
    assert proc.status_message.startswith("1 of 3 replicas running (n1); n2: building the venv")


def test_placement_shows_in_the_api_and_charlie_sees_nothing(api: dict[str, APIClient], demo: Demo) -> None:
    node("n1")
    want(demo.p1, replicas=2)
    placement.plan()
    body = api["bob"].get(f"/api/processors/{demo.p1.pk}/").json()
    assert body["replicas"] == 2 and body["node"] == "" and body["scheduler"] == ""
    assert [(p["replica"], p["node"], p["cpus"], p["moving_to"]) for p in body["placement"]] == [
        (1, "n1", 1, None),
        (2, "n1", 1, None),
    ]
    assert api["charlie"].get(f"/api/processors/{demo.p1.pk}/").status_code == 404
    assert api["charlie"].get("/api/processors/").json()["results"] == []


def test_processor_placement_fields_are_validated(api: dict[str, APIClient], demo: Demo) -> None:
    url = f"/api/processors/{demo.p1.pk}/"
    bad = api["alice"].patch(url, {"scheduler": "nope"}, format="json")
    assert bad.status_code == 400
    assert "no scheduler named 'nope'" in bad.json()["error"]["message"]
    assert api["alice"].patch(url, {"replicas": 0}, format="json").status_code == 400
    Scheduler.objects.create(name="sched1")
    ok = api["alice"].patch(url, {"scheduler": "sched1", "replicas": 2, "node": "radiant"}, format="json")
    assert ok.status_code == 200, ok.content
    assert (ok.json()["scheduler"], ok.json()["replicas"], ok.json()["node"]) == ("sched1", 2, "radiant")


@pytest.mark.parametrize("setting", ["least_loaded", "packed", "backend.cluster.placement.Packed"])
def test_the_default_strategy_is_a_setting(demo: Demo, settings: Any, setting: str) -> None:
    settings.ELASTICCODE_PLACEMENT_STRATEGY = setting
    node("n1", 4)
    node("n2", 4)
    want(demo.p1, concurrency=2)
    want(demo.p2, concurrency=1)
    placement.plan()
    nodes = sorted(Deployment.objects.values_list("node__name", flat=True))
    assert nodes == (["n1", "n2"] if setting == "least_loaded" else ["n1", "n1"])


def backlog(socket: Any, count: int) -> None:
    broker.publish(
        (str(socket.queue_id), new_envelope(flow_id=str(socket.flow_id), socket_id=str(socket.pk), payload=n))
        for n in range(count)
    )


def test_replicas_follow_the_backlog_and_every_decision_is_kept(
    api: dict[str, APIClient], demo: Demo, settings: Any
) -> None:
    settings.ELASTICCODE_SCALE_DEPTH, settings.ELASTICCODE_SCALE_AFTER, settings.ELASTICCODE_SCALE_IDLE = 100, 0, 0
    node("n1", 2)
    node("n2", 1)
    proc = want(demo.p1, replicas=1, replicas_max=4)
    try:
        backlog(demo.s1, 250)
        placement.plan()  # 250 waiting for 1 replica: one more
        placement.plan()  # 250 for 2: one more
        placement.plan()  # 250 for 3 (not above 300): stays
        assert [r for r, _ in where(proc)] == [1, 2, 3]
        backlog(demo.s1, 200)
        placement.plan()  # 450 for 3: wants a fourth, but n1 and n2 are full
        placement.plan()  # still busy and blocked: said once per busy spell
        assert len(where(proc)) == 3
        broker.purge(str(demo.s1.queue_id))
        placement.plan()  # idle: one less (the highest replica goes; its agent stops it warmly)
        placement.plan()
        placement.plan()  # at `replicas`: stays
        assert where(proc) == [(1, "n1")]
    finally:
        broker.purge(str(demo.s1.queue_id))
        autoscale.forget([str(proc.pk)])

    events = api["bob"].get("/api/scale-events/", {"processor": str(proc.pk)}).json()["results"]
    assert [(e["action"], e["replicas_from"], e["replicas_to"]) for e in reversed(events)] == [
        ("grow", 1, 2),
        ("grow", 2, 3),
        ("blocked", 3, 3),
        ("shrink", 3, 2),
        ("shrink", 2, 1),
    ]
    assert events[2]["reason"].startswith("450 messages waiting (150 per replica, above 100)")
    assert events[2]["reason"].endswith("but no allowed node has the CPU slots")
    assert api["charlie"].get("/api/scale-events/").json()["results"] == []

    # Stopped, it starts again from `replicas`.
    want(proc, scaled_replicas=3)
    Processor.objects.filter(pk=proc.pk).update(requested_status="stopped")
    placement.plan()
    proc.refresh_from_db()
    assert proc.scaled_replicas == 0 and proc.replicas_wanted == 1


def test_replicas_max_must_be_above_replicas(api: dict[str, APIClient], demo: Demo) -> None:
    url = f"/api/processors/{demo.p1.pk}/"
    bad = api["alice"].patch(url, {"replicas": 3, "replicas_max": 2}, format="json")
    assert bad.status_code == 400 and "replicas_max" in bad.json()["error"]["fields"]
    assert api["alice"].patch(url, {"replicas_max": 3}, format="json").status_code == 200
    raised = api["alice"].patch(url, {"replicas": 3}, format="json")
    assert raised.status_code == 400 and "replicas" in raised.json()["error"]["fields"]


def test_a_rebalance_spreads_what_a_late_node_left_crowded_only_when_asked(
    api: dict[str, APIClient], demo: Demo
) -> None:
    node("n1", 4)
    proc = want(demo.p1, replicas=2)
    placement.plan()
    assert where(proc) == [(1, "n1"), (2, "n1")]  # one node then: both replicas on it
    Deployment.objects.filter(processor=proc).update(status="running")
    node("n2", 4)
    placement.plan()
    assert where(proc) == [(1, "n1"), (2, "n1")]  # a node joining moves nothing by itself

    assert api["bob"].post("/api/nodes/rebalance/").status_code == 403
    answer = api["admin"].post("/api/nodes/rebalance/")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"moves": ["proc1#2: n1 → n2"]}
    moving = Deployment.objects.get(processor=proc, replica=1, replaced_by__isnull=False)
    assert (moving.node.name, moving.replaced_by.node.name) == ("n1", "n2")  # its agent stops it once n2's runs
    assert api["admin"].post("/api/nodes/rebalance/").json() == {"moves": []}  # a move under way is left alone


def test_a_new_pin_or_scheduler_moves_the_replicas_already_running(demo: Demo) -> None:
    """Found by a newcomer: `ec update processor -n proc1 -h n3` answered "Updated" and proc1 ran on where it was,
    through a restart and a stop and start."""
    n1, n2, n3 = node("n1", 4), node("n2", 4), node("n3", 4)
    proc = want(demo.p1, replicas=1)
    placement.plan()
    assert where(proc) == [(1, "n1")]
    Deployment.objects.filter(processor=proc).update(status="running")

    want(proc, node="n3")
    placement.plan()
    # A live move: the new replica on n3 first; the one on n1 stops once it runs (its agent's part).
    old = Deployment.objects.get(processor=proc, node=n1)
    assert old.replaced_by is not None and old.replaced_by.node == n3
    Deployment.objects.filter(pk=old.pk).delete()  # what n1's agent does once n3's replica runs
    Deployment.objects.filter(processor=proc).update(status="running")

    Scheduler.objects.create(name="s1").nodes.set([n1, n2])
    want(proc, node="", scheduler="s1")
    placement.plan()
    moving = Deployment.objects.get(processor=proc, node=n3)
    assert moving.replaced_by is not None and moving.replaced_by.node in (n1, n2)

    # Pinned to a node that is not there: the replica goes (stopped warmly by its agent) and the processor says why.
    Deployment.objects.filter(processor=proc).delete()
    Deployment.objects.create(processor=proc, replica=0, node=n2, cpus=1, status="running")
    want(proc, node="n9", scheduler="")
    placement.plan()
    assert where(proc) == []
    proc.refresh_from_db()
    assert proc.status_message == "waiting for a node: it is pinned to node n9, which is not online"


def test_a_queue_two_sockets_share_is_one_backlog(demo: Demo, settings: Any) -> None:
    """Found by a newcomer: 500 messages on a queue two of the processor's sockets share read as 946 waiting."""
    settings.ELASTICCODE_SCALE_DEPTH, settings.ELASTICCODE_SCALE_AFTER = 100, 0
    node("n1", 8)
    proc = want(demo.p1, replicas=1, replicas_max=3)
    SocketFactory(processor=proc, name="second", function="other", queue=demo.s1.queue)
    try:
        backlog(demo.s1, 150)
        placement.plan()
        [event] = ScaleEvent.objects.filter(processor=proc)
        assert event.reason.startswith("150 messages waiting")
    finally:
        broker.purge(str(demo.s1.queue_id))
        autoscale.forget([str(proc.pk)])
