"""Benchmark: what live metrics cost and how fresh they are (make bench; figures in docs/benchmarks.md).

(a) throughput of a 3-socket flow (one worker, concurrency 2) with metrics on and off, alternating, in one run;
(b) the same with 50 websocket clients watching the flow (plus one that never reads) against none, through a real
    Daphne, the clients in their own process;
(c) freshness: for every call of a steady 200 msgs/s stream, the time from the call finishing (its lineage
    `finished_at`) to the websocket frame that carries its second arriving at a watching client.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from flows.models import Call, Processor
from flows.runtime import broker, keys
from flows.runtime.envelope import new_envelope
from tests.benchmarks.test_runtime_bench import NOOP, build, ec_throughput, pct
from tests.factories import make_user
from tests.live import daphne
from tests.runtime.conftest import BASE_DIR, Runtime, code_dir, runtime, start  # noqa: F401 - fixtures
from tests.runtime.gitrepos import make_repo, package_files

pytestmark = [pytest.mark.benchmark]
ROUNDS = 3
WATCHERS = 50
STREAM_RATE = 200
STREAM_SECONDS = 15


@contextmanager
def watchers(ws_url: str, token: str, readers: int, out: Path, idle: int = 0) -> Iterator[None]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.ws_watchers",
            ws_url,
            token,
            str(readers),
            str(out),
            "--idle",
            str(idle),
        ],
        cwd=BASE_DIR,
        env={**os.environ},
    )
    try:
        time.sleep(3)  # every client connected and past its snapshot
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def run_agent(rt: Runtime, *processors: Processor) -> None:
    start(*processors)
    rt.start_agent()
    for processor in processors:
        rt.wait_status(processor, "running")


def stop_agent(rt: Runtime) -> None:
    rt.wait_for(lambda: broker.client().llen(keys.LINEAGE) == 0, 60, "lineage written")
    rt.stop_agents()
    rt.agents.clear()
    Processor.objects.update(requested_status="stopped", status="stopped")


@pytest.mark.django_db(transaction=True)
def test_live_metrics_cost_and_freshness(runtime: Runtime, tmp_path: Path) -> None:  # noqa: F811
    owner = make_user("bench", "CREATE")
    repo = tmp_path / "noop"
    make_repo(repo, package_files("ecnoop", NOOP))
    _chain, _first, load_proc, load_first, plugs = build(owner, f"file://{repo}")
    flow_id = str(load_first.flow_id)
    token = Token.objects.create(user=owner).key

    # (a) metrics on / off, alternating so a burst of outside load does not land on one side only.
    rates: dict[str, list[float]] = {"1": [], "0": []}
    for metrics in ("1", "0") * ROUNDS:
        runtime.overrides["ELASTICCODE_METRICS"] = metrics
        run_agent(runtime, load_proc)
        rates[metrics].append(ec_throughput(load_first, plugs))
        print(f"metrics {metrics}: {rates[metrics][-1]:.0f} hops/s")
        stop_agent(runtime)
    runtime.overrides["ELASTICCODE_METRICS"] = "1"

    # (b) and (c) go through a real Daphne.
    watched: dict[str, list[float]] = {"50": [], "0": []}
    frames: list[int] = []
    fresh: list[float] = []
    with daphne() as base:
        ws_url = base.replace("http://", "ws://") + f"/ws/flows/{flow_id}/"
        run_agent(runtime, load_proc)
        for n, with_watchers in enumerate((True, False) * ROUNDS):
            if with_watchers:
                out = tmp_path / f"watchers-{n}.json"
                with watchers(ws_url, token, WATCHERS, out, idle=1):
                    watched["50"].append(ec_throughput(load_first, plugs))
                    time.sleep(2)  # the last second's frame
                report = json.loads(out.read_text())
                assert not report["failed"], report["failed"]
                frames += report["frames"]
            else:
                watched["0"].append(ec_throughput(load_first, plugs))
            print(
                f"{'50 watchers' if with_watchers else 'no watcher'}: {watched['50' if with_watchers else '0'][-1]:.0f} hops/s"
            )

        # (c) freshness under a steady stream, one reading client.
        out = tmp_path / "fresh.json"
        started = time.time()
        with watchers(ws_url, token, 1, out):
            for i in range(STREAM_RATE * STREAM_SECONDS):
                due = started + 3 + i / STREAM_RATE
                time.sleep(max(0.0, due - time.time()))
                broker.publish(
                    [(str(load_first.queue_id), new_envelope(flow_id=flow_id, socket_id=str(load_first.pk), payload=i))]
                )
            time.sleep(3)
        stop_agent(runtime)
    ticks = json.loads(out.read_text())["ticks"]
    arrived: dict[int, float] = {}
    for received, second, _worker, _calls in ticks:
        arrived[second] = min(arrived.get(second, received), received)
    finished = Call.objects.filter(
        socket__processor=load_proc, finished_at__gte=datetime.fromtimestamp(started, tz=UTC)
    ).values_list("finished_at", flat=True)
    for at in finished:
        ts = at.timestamp()
        if int(ts) in arrived:
            fresh.append((arrived[int(ts)] - ts) * 1000)
    covered = len(fresh) / max(1, len(finished))

    on, off = statistics.median(rates["1"]), statistics.median(rates["0"])
    with_50, without = statistics.median(watched["50"]), statistics.median(watched["0"])
    print(f"throughput metrics on {on:.0f} / off {off:.0f} hops/s: ratio {on / off:.3f}"
          f" (runs {', '.join(f'{r:.0f}' for r in rates['1'])} / {', '.join(f'{r:.0f}' for r in rates['0'])})")  # fmt: skip
    print(f"throughput 50 watchers {with_50:.0f} / none {without:.0f} hops/s: ratio {with_50 / without:.3f}"
          f" (runs {', '.join(f'{r:.0f}' for r in watched['50'])} / {', '.join(f'{r:.0f}' for r in watched['0'])})")  # fmt: skip
    print(f"frames per watching client per round: min {min(frames)}, median {statistics.median(frames):.0f}")
    print(f"freshness (call finished → frame at a client): p50 {statistics.median(fresh):.0f} ms,"
          f" p95 {pct(fresh, 95):.0f} ms, max {max(fresh):.0f} ms; {len(fresh)} calls, {covered:.1%} had a frame")  # fmt: skip
