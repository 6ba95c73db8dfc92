# ruff: noqa: F811  (pytest fixtures imported from tests/runtime/conftest.py are parameters here)
"""Benchmark: a call made from inside a function (`elasticcode.call`, flows/runtime/calls.py) against a top-level
hop, and a memo hit, in one run (issue 18; target: one nested call at most 2 times one hop).

One processor worker (Celery's, thread pool, concurrency 2, lineage on) started by a real agent runs:
- a hop: a linear flow of 10 no-op sockets, a trace sent and waited for as the runtime benchmark does, time per hop;
- a nested call: `caller(n)` makes n sequential calls of the no-op socket; one call costs (time of caller(10) -
  time of caller(0)) / 10, the two sent alternately, each waited for;
- a memo hit: the same with a pure no-op socket called with the same argument each time (every call after the first
  is answered from the memo by the caller's worker, no message sent).
EC_BENCH_ROUNDS rounds (default 150) of each, interleaved; p50 and p95 printed, and the p50 ratios.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from typing import Any

import pytest

from flows.models import Socket
from flows.runtime import traces
from flows.runtime.envelope import new_envelope
from tests.factories import PlugFactory, ProcessorFactory, SocketFactory, make_flow, make_user
from tests.runtime.conftest import Runtime, code_dir, runtime, start  # noqa: F401 - fixtures
from tests.runtime.gitrepos import make_repo, package_files

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(1800)]

ROUNDS = int(os.environ.get("EC_BENCH_ROUNDS", "150"))
CALLS = 10
MODULE = """
from elasticcode import call

def noop(x, *rest):
    return x

def caller(n):
    for i in range(n):
        call("noop", i)
    return n

def memo_caller(n):
    for _ in range(n):
        call("pure", 1)
    return n
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def run(socket: Socket, payload: Any) -> float:
    """Seconds from sending a tracked message to its trace's answer."""
    envelope = new_envelope(flow_id=str(socket.flow_id), socket_id=str(socket.pk), payload=payload, tracked=True)
    started = time.perf_counter()
    traces.publish_tracked(str(socket.queue_id), envelope)
    outcome = traces.wait(envelope["trace_id"], 30)
    elapsed = time.perf_counter() - started
    assert outcome and "error" not in outcome, outcome
    return elapsed


def report(name: str, values: list[float]) -> float:
    p50 = statistics.median(values)
    print(f"{name}: p50 {p50:.2f} ms  p95 {pct(values, 95):.2f} ms  (n={len(values)})")
    return p50


def test_a_nested_call_against_a_hop_and_a_memo_hit(runtime: Runtime, tmp_path: Any) -> None:
    owner = make_user("bench", "CREATE")
    repo = tmp_path / "calls"
    make_repo(repo, package_files("eccalls", MODULE))
    flow = make_flow(owner, "calls")
    proc = ProcessorFactory(
        flow=flow, name="calls", git_url=f"file://{repo}", module="eccalls", concurrency=2, retries=0
    )
    hops = [SocketFactory(processor=proc, name=f"hop{i}", function="noop") for i in range(10)]
    for a, b in itertools.pairwise(hops):
        PlugFactory(source=a, target=b, name=f"{a.name}-{b.name}")
    SocketFactory(processor=proc, name="noop", function="noop")
    SocketFactory(processor=proc, name="pure", function="noop", pure=True)
    caller = SocketFactory(processor=proc, name="caller", function="caller")
    memo_caller = SocketFactory(processor=proc, name="memo_caller", function="memo_caller")
    start(proc)
    runtime.start_agent()
    runtime.wait_status(proc, "running")
    for _ in range(20):  # warm: executors started, topology cached, the memo entry made
        run(hops[0], 1), run(caller, CALLS), run(memo_caller, CALLS)

    hop, nested, hit = [], [], []
    for _ in range(ROUNDS):
        hop.append(run(hops[0], 1) * 1000 / len(hops))
        nested.append((run(caller, CALLS) - run(caller, 0)) * 1000 / CALLS)
        hit.append((run(memo_caller, CALLS) - run(memo_caller, 0)) * 1000 / CALLS)
    print(f"\n== nested calls, {ROUNDS} rounds, {CALLS} calls a round")
    hop50 = report("top-level hop (per hop of 10)", hop)
    nested50 = report("nested call (per call of 10)", nested)
    hit50 = report("memo hit (per call of 10)", hit)
    print(f"nested call / hop p50: {nested50 / hop50:.2f}x (target <= 2.0)")
    print(f"memo hit / hop p50: {hit50 / hop50:.2f}x")
