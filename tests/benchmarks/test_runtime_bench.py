"""Benchmark: the message path against raw Celery on the same Redis, in one run (make bench).

(a) raw Celery, baseline A (as people run it: defaults, prefork pool with 2 processes) and baseline B (ElasticCode's
    guarantees: late acks, reject on worker lost, thread pool with 2 threads, tests/benchmarks/raw_celery.py): a
    chain of 10 no-op tasks (latency per hop) and fire-and-forget no-op throughput;
(b) ElasticCode: a linear flow of 10 no-op sockets (latency per hop) and a 3-socket flow under load (hops/s), one
    processor worker (Celery's, thread pool, concurrency 2, 2 executor subprocesses), with lineage on and off.
Baseline B and ElasticCode take turns, three rounds each (B's latency, then ElasticCode's latency and throughput
with lineage, then its throughput without): a burst of load from elsewhere on this shared machine lands on both
sides, not on one. Each side's hop is the median of its rounds' p50s, and the rounds' own ratios are printed too.
Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from celery import chain

from flows.models import Processor, Socket
from flows.runtime import broker, keys, traces
from flows.runtime.envelope import child_id, new_envelope
from tests.benchmarks import raw_celery
from tests.factories import PlugFactory, ProcessorFactory, SocketFactory, make_flow, make_user
from tests.rabbitmq import rabbitmq  # noqa: F401 - fixture
from tests.runtime.conftest import BASE_DIR, Runtime, any_broker, code_dir, runtime, start  # noqa: F401 - fixtures
from tests.runtime.gitrepos import make_repo, package_files

pytestmark = [pytest.mark.benchmark]

CHAINS = 200
LOAD = 3000
NOOP = "def noop(x):\n    return x\n"


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def raw_worker(
    app: str = "tests.benchmarks.raw_celery",
    queue: str = "bench.raw",
    *,
    guarantees: bool = False,
    broker_url: str = "",
) -> subprocess.Popen[bytes]:
    """Plain Celery's worker on `app`'s `queue`, 2 slots: baseline A (prefork, defaults) or, with `guarantees`,
    baseline B (thread pool, late acks: see raw_celery.py)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "-P",
            "threads" if guarantees else "prefork",
            "-c",
            "2",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ],
        cwd=BASE_DIR,
        env={**os.environ, "RAW_CELERY_GUARANTEES": "1" if guarantees else "0", "RAW_CELERY_BROKER": broker_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def raw_chain_latency() -> list[float]:
    client = broker.client()
    per_hop = []
    for i in range(CHAINS + 10):
        key = f"bench:raw:chain:{uuid.uuid4().hex}"
        started = time.time()
        chain(*[raw_celery.noop.s(i)] + [raw_celery.noop.s() for _ in range(8)], raw_celery.mark.s(key)).apply_async()
        _, ended = client.blpop([key], timeout=30)
        if i >= 10:  # warm-up
            per_hop.append((float(ended) - started) * 1000 / 10)
    return per_hop


def raw_throughput() -> float:
    client = broker.client()
    key = f"bench:raw:count:{uuid.uuid4().hex}"
    with raw_celery.app.producer_or_acquire() as producer:
        started = time.time()
        for i in range(LOAD):
            raw_celery.count.apply_async((i, key), producer=producer)
    while int(client.get(key) or 0) < LOAD:
        time.sleep(0.02)
    return LOAD / (time.time() - started)


def ec_chain_latency(first: Socket) -> list[float]:
    per_hop = []
    for i in range(CHAINS + 10):
        envelope = new_envelope(flow_id=str(first.flow_id), socket_id=str(first.pk), payload=i, tracked=True)
        started = time.time()
        traces.publish_tracked(str(first.queue_id), envelope)
        outcome = traces.wait(envelope["trace_id"], 30)
        ended = time.time()
        assert outcome and outcome.get("results") == [i], outcome
        if i >= 10:
            per_hop.append((ended - started) * 1000 / 10)
    return per_hop


def ec_throughput(first: Socket, plugs: list[str]) -> float:
    client = broker.client()
    envelopes = [new_envelope(flow_id=str(first.flow_id), socket_id=str(first.pk), payload=i) for i in range(LOAD)]
    last_ids = []
    for env in envelopes:
        mid = child_id(env["id"], plugs[0], 0)
        last_ids.append(keys.done(child_id(mid, plugs[1], 0)))
    started = time.time()
    broker.publish((str(first.queue_id), env) for env in envelopes)
    # Messages finish roughly in the order they were sent: look at the oldest pending ones only, so that watching
    # for the end does not take CPU away from what is measured.
    pending = last_ids
    while pending:
        window = pending[:100]
        pipe = client.pipeline()
        for key in window:
            pipe.exists(key)
        done = {key for key, there in zip(window, pipe.execute(), strict=True) if there}
        pending = [key for key in pending if key not in done] if done else pending
        if pending and len(done) < len(window):
            time.sleep(0.02)
    return LOAD * 3 / (time.time() - started)


def build(owner: Any, repo: str) -> tuple[Processor, Socket, Processor, Socket, list[str]]:
    flow = make_flow(owner, "bench")
    chain_proc = ProcessorFactory(flow=flow, name="chain", git_url=repo, module="ecnoop", concurrency=2, retries=0)
    sockets = [SocketFactory(processor=chain_proc, name=f"hop{i}", function="noop") for i in range(10)]
    for a, b in itertools.pairwise(sockets):
        PlugFactory(source=a, target=b, name=f"{a.name}-{b.name}")
    load_proc = ProcessorFactory(flow=flow, name="load", git_url=repo, module="ecnoop", concurrency=2, retries=0)
    three = [SocketFactory(processor=load_proc, name=f"load{i}", function="noop") for i in range(3)]
    plugs = [str(PlugFactory(source=a, target=b, name=f"{a.name}-{b.name}").pk) for a, b in itertools.pairwise(three)]
    return chain_proc, sockets[0], load_proc, three[0], plugs


def report(name: str, values: list[float]) -> tuple[float, float]:
    p50, p95 = statistics.median(values), pct(values, 95)
    print(f"{name}: p50 {p50:.2f} ms  p95 {p95:.2f} ms  (n={len(values)})")
    return p50, p95


def use_raw_broker(url: str) -> None:
    """Point this process's raw Celery app (the producer of the baselines' messages) at `url`."""
    raw_celery.app.conf.broker_url = url
    raw_celery.app._pool = None
    raw_celery.app.amqp._producer_pool = None


@pytest.mark.django_db(transaction=True)
def test_message_path_against_raw_celery(runtime: Runtime, any_broker: str, tmp_path: Any) -> None:  # noqa: F811
    """On each broker: the baselines and ElasticCode on the same broker (and the same Redis for state)."""
    broker_url = runtime.overrides.get("CELERY_BROKER_URL", "")
    use_raw_broker(broker_url or raw_celery.STATE)
    print(f"\n== broker: {any_broker}")
    owner = make_user("bench", "CREATE")
    repo = tmp_path / "noop"
    make_repo(repo, package_files("ecnoop", NOOP))
    chain_proc, first, load_proc, load_first, plugs = build(owner, f"file://{repo}")

    def baseline(guarantees: bool) -> tuple[list[float], float]:
        worker = raw_worker(guarantees=guarantees, broker_url=broker_url)
        try:
            time.sleep(3)
            return raw_chain_latency(), raw_throughput()
        finally:
            worker.terminate()
            worker.wait(30)

    rounds: dict[str, list[tuple[list[float], float]]] = {"A": [baseline(False)], "B": []}
    # B, lineage on, lineage off, three times: a burst of load from elsewhere on this shared machine does not land
    # on one side only; each side's figure is the median of its rounds.
    rates: dict[str, list[float]] = {"1": [], "0": []}
    ec_rounds: list[list[float]] = []
    for lineage in ("1", "0") * 3:
        if lineage == "1":
            rounds["B"].append(baseline(True))
        runtime.overrides["ELASTICCODE_LINEAGE"] = lineage
        start(chain_proc, load_proc)
        runtime.start_agent()
        runtime.wait_status(chain_proc, "running")
        runtime.wait_status(load_proc, "running")
        if lineage == "1":
            ec_rounds.append(ec_chain_latency(first))
        rates[lineage].append(ec_throughput(load_first, plugs))
        # Lineage still waiting in Redis is written before the agent stops, so that no run writes another's.
        backlog = broker.client().llen(keys.LINEAGE)
        runtime.wait_for(lambda: broker.client().llen(keys.LINEAGE) == 0, 60, "lineage written")
        print(
            f"lineage {lineage}: {rates[lineage][-1]:.0f} hops/s, {backlog} lineage records not yet written at the end"
        )
        runtime.stop_agents()
        runtime.agents.clear()
        Processor.objects.update(requested_status="stopped", status="stopped")

    results = {key: statistics.median(values) for key, values in rates.items()}
    ec = [report(f"ElasticCode flow, per hop, round {n}", hops) for n, hops in enumerate(ec_rounds, 1)]
    ec_p50, ec_p95 = statistics.median(r[0] for r in ec), statistics.median(r[1] for r in ec)
    print(f"ElasticCode flow, per hop: p50 {ec_p50:.2f} ms  p95 {ec_p95:.2f} ms  (median of {len(ec)} rounds)")
    print(
        f"ElasticCode 3-socket flow: {results['1']:.0f} hops/s with lineage, {results['0']:.0f} hops/s without"
        f" (runs: {', '.join(f'{r:.0f}' for r in rates['1'])} / {', '.join(f'{r:.0f}' for r in rates['0'])})"
    )
    for name, measured in rounds.items():
        raw = [
            report(f"raw Celery chain ({name}), per hop, round {n}", hops) for n, (hops, _) in enumerate(measured, 1)
        ]
        raw_p50, raw_p95 = statistics.median(r[0] for r in raw), statistics.median(r[1] for r in raw)
        raw_rate = statistics.median(rate for _, rate in measured)
        print(f"raw Celery chain ({name}), per hop: p50 {raw_p50:.2f} ms  p95 {raw_p95:.2f} ms")
        print(f"raw Celery fire-and-forget ({name}): {raw_rate:.0f} tasks/s")
        print(f"per-hop p50 ratio (ElasticCode / {name}): {ec_p50 / raw_p50:.2f}   p95 ratio: {ec_p95 / raw_p95:.2f}")
        if len(raw) == len(ec):
            paired = ", ".join(f"{e[0] / r[0]:.2f}" for e, r in zip(ec, raw, strict=True))
            print(f"per-hop p50 ratio (ElasticCode / {name}) round by round: {paired}")
        print(f"throughput ratio (ElasticCode with lineage / {name}): {results['1'] / raw_rate:.2f}")
    print(f"lineage on / off: {results['1'] / results['0']:.2f}")
