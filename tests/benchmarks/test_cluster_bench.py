# ruff: noqa: F811  (pytest fixtures imported from tests/runtime/conftest.py are parameters here)
"""Benchmarks of the elastic cluster (issue 17), with real agents as separate processes on this 2-core machine:

- failover: a node (agent, workers, executors) killed with SIGKILL while a 3-replica processor works through a
  backlog: the time until the node is `down`, until its replicas run elsewhere, and until every message its
  workers held unacknowledged at the kill has run again (they come back after ELASTICCODE_VISIBILITY_TIMEOUT, 10 s,
  unrenewed);
- autoscale reaction: a backlog appears → a second replica consumes (with the default SCALE_AFTER of 10 s);
- move: `POST /api/processors/{id}/move` under load → the new replica runs and the old has stopped;
- throughput of a CPU-bound flow with 1, 2 and 3 nodes (each node one replica of one slot): two cores cannot do
  more than two calls at once, so the figures show what placement and coordination cost, not a speed-up.
"""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest

from backend.cluster.models import Deployment, Node
from flows.models import Processor
from flows.runtime import broker, keys
from flows.runtime.envelope import new_envelope
from tests.benchmarks.test_redelivery_bench import held_ids
from tests.cluster.test_nodes import NODES, arrived, joined, pipeline, placed, running_on, send_many
from tests.conftest import client_for
from tests.factories import ProcessorFactory, SocketFactory, make_flow, make_user
from tests.runtime.conftest import Runtime, code_dir, runtime, sink_repo, start  # noqa: F401 - fixtures
from tests.runtime.gitrepos import make_repo, package_files

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db(transaction=True), pytest.mark.timeout(1200)]

BURN = '''
def burn(n):
    """About 20 ms of one core."""
    total = 0
    for i in range(250_000):
        total += i * i
    return n
'''


@pytest.mark.parametrize("down_after", [15, 6])
def test_failover(runtime: Runtime, sink_repo: str, down_after: int) -> None:
    owner = make_user("bench", "CREATE")
    env = {**NODES, "ELASTICCODE_NODE_DOWN_AFTER": str(down_after)}
    agents = {name: runtime.start_agent(name, **env) for name in ("n1", "n2", "n3")}
    joined(runtime, 3)
    relay, sink, entry = pipeline(owner, sink_repo, replicas=3)
    Processor.objects.filter(pk=sink.pk).update(node="n3")  # the victim is n1: only relay replicas die there
    start(relay, sink)
    running_on(runtime, relay, {"n1", "n2", "n3"}, timeout=240)
    running_on(runtime, sink, {"n3"})
    ids = send_many(entry, 2000)
    runtime.wait_for(lambda: arrived(ids) >= 100, 120, "the flow to be moving")
    victim_workers = set(Deployment.objects.filter(node__name="n1").values_list("worker", flat=True))
    tree = [psutil.Process(agents["n1"].pid), *psutil.Process(agents["n1"].pid).children(recursive=True)]
    held = held_ids()
    for proc in tree:
        proc.kill()
    killed = time.monotonic()
    client = broker.client()
    entry_ids = {i for i in held if not client.exists(keys.done(i))}
    runtime.wait_for(lambda: Node.objects.get(name="n1").status == "down", 60, "n1 down")
    down = time.monotonic() - killed
    running_on(runtime, relay, {"n2", "n3"})
    replaced = time.monotonic() - killed
    runtime.wait_for(lambda: all(client.exists(keys.done(i)) for i in entry_ids), 120, "held messages to run again")
    rerun = time.monotonic() - killed
    try:
        runtime.wait_for(lambda: arrived(ids) == 2000, 300, "all 2,000 at the sink")
    except AssertionError:
        out = sink.sockets.get()
        raise AssertionError(
            f"{arrived(ids)} of 2,000 at the sink; waiting: relay {broker.depth(str(entry.queue_id))}, sink "
            f"{broker.depth(str(out.queue_id))}; unacknowledged {client.hlen('unacked')}; placed "
            f"{placed(relay)} {placed(sink)}"
        ) from None
    print(
        f"\nfailover (ELASTICCODE_NODE_DOWN_AFTER={down_after} s): node down after {down:.1f} s, its relay replica "
        f"running elsewhere after {replaced:.1f} s, the {len(entry_ids)} messages held unacknowledged at the kill "
        f"(by {len(victim_workers)} killed worker and the survivors) all run again after {rerun:.1f} s"
    )


def test_autoscale_reaction(runtime: Runtime, sink_repo: str) -> None:
    owner = make_user("bench", "CREATE")
    for name in ("n1", "n2"):
        runtime.start_agent(name, **NODES)
    joined(runtime, 2)
    flow = make_flow(owner, "backlog")
    slow = ProcessorFactory(
        flow=flow, name="slow", git_url=sink_repo, ref="main", module="ecsink", replicas=1, replicas_max=2
    )
    entry = SocketFactory(processor=slow, name="in", function="slower")
    start(slow)
    running_on(runtime, slow, {"n1", "n2"}, timeout=240)
    envelopes = [new_envelope(flow_id=str(flow.pk), socket_id=str(entry.pk), payload=n) for n in range(600)]
    broker.publish((str(entry.queue_id), envelope) for envelope in envelopes)
    appeared = time.monotonic()
    runtime.wait_for(lambda: len(placed(slow)) == 2, 120, "a second replica")
    decided = time.monotonic() - appeared
    running_on(runtime, slow, {"n1", "n2"})
    print(
        f"\nautoscale (defaults: more than 100 waiting per replica for 10 s): a backlog of 600 → second replica "
        f"placed after {decided:.1f} s, consuming after {time.monotonic() - appeared:.1f} s"
    )


def test_move_time(runtime: Runtime, sink_repo: str) -> None:
    owner = make_user("bench", "CREATE")
    for name in ("n1", "n2"):
        runtime.start_agent(name, **NODES)
    joined(runtime, 2)
    relay, sink, entry = pipeline(owner, sink_repo, replicas=1, sink_node="n2")
    start(relay, sink)
    running_on(runtime, relay, {"n1"}, timeout=240)
    running_on(runtime, sink, {"n2"})
    ids = send_many(entry, 2000)
    runtime.wait_for(lambda: arrived(ids) >= 100, 120, "the flow to be moving")
    asked = time.monotonic()
    answer = client_for(owner).post(f"/api/processors/{relay.pk}/move", {"node": "n2"}, format="json")
    assert answer.status_code == 200, answer.content
    runtime.wait_for(lambda: ("n2", "running") in placed(relay), 120, "the new replica running")
    consuming = time.monotonic() - asked
    runtime.wait_for(lambda: placed(relay) == [("n2", "running")], 120, "the old replica gone")
    done = time.monotonic() - asked
    runtime.wait_for(lambda: arrived(ids) == 2000, 300, "all 2,000 at the sink")
    print(f"\nmove under load: the new replica consuming after {consuming:.1f} s, the old stopped after {done:.1f} s")


def test_cpu_bound_throughput_with_1_2_3_nodes(runtime: Runtime, tmp_path: Any) -> None:
    owner = make_user("bench", "CREATE")
    repo = tmp_path / "burn"
    make_repo(repo, package_files("ecburn", BURN))
    for name in ("n1", "n2", "n3"):
        runtime.start_agent(name, **NODES)
    joined(runtime, 3)
    rates = {}
    for nodes in (1, 2, 3):
        flow = make_flow(owner, f"burn{nodes}")
        proc = ProcessorFactory(
            flow=flow, name="burn", git_url=f"file://{repo}", module="ecburn", replicas=nodes, retries=0
        )
        socket = SocketFactory(processor=proc, name=f"burn{nodes}", function="burn")
        start(proc)
        running_on(runtime, proc, {"n1", "n2", "n3"}, timeout=240)
        assert len({n for n, _ in placed(proc)}) == nodes
        envelopes = [new_envelope(flow_id=str(flow.pk), socket_id=str(socket.pk), payload=n) for n in range(600)]
        began = time.monotonic()
        broker.publish((str(socket.queue_id), envelope) for envelope in envelopes)
        runtime.wait_for(lambda done=[e["id"] for e in envelopes]: arrived(done) == 600, 300, "600 calls done")
        rates[nodes] = 600 / (time.monotonic() - began)
        Processor.objects.filter(pk=proc.pk).update(requested_status="stopped")
        runtime.wait_for(
            lambda p=proc: not Deployment.objects.filter(processor=p).exists(), 60, "its replicas released"
        )
    base = rates[1]
    print(
        "\nCPU-bound (about 20 ms a call), 600 calls, one replica per node: "
        + ", ".join(f"{n} node{'s' if n > 1 else ''} {rate:.0f}/s ({rate / base:.2f}x)" for n, rate in rates.items())
    )


@pytest.mark.parametrize("processors", [1000, 5000])
def test_placement_pass_cost(processors: int) -> None:
    """One placement pass over 100 nodes: placing `processors` one-replica processors, then a steady pass with
    nothing to change (what every second costs a cluster at rest), for docs/scale.md's extrapolation."""
    from django.utils import timezone

    from backend.cluster import placement
    from tests.factories import bulk_processors

    owner = make_user("bench", "CREATE")
    now = timezone.now()
    Node.objects.bulk_create(
        Node(name=f"n{i:03}", hostname=f"h{i:03}", cpus=64, status="online", last_heartbeat=now) for i in range(100)
    )
    flow = make_flow(owner, "many")
    made, _ = bulk_processors(flow, processors)
    Processor.objects.filter(pk__in=[p.pk for p in made]).update(requested_status="running")
    began = time.perf_counter()
    first = placement.plan()
    placing = time.perf_counter() - began
    assert first is not None and len(first.placed) == processors
    steady = []
    for _ in range(5):
        Node.objects.update(last_heartbeat=timezone.now())
        began = time.perf_counter()
        placement.plan()
        steady.append(time.perf_counter() - began)
    print(
        f"\nplacement over 100 nodes, {processors} processors: placing them all {placing * 1000:.0f} ms "
        f"({placing / processors * 1e6:.0f} µs each); a pass with nothing to do {min(steady) * 1000:.0f} ms"
    )
