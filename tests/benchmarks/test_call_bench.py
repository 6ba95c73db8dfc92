# ruff: noqa: F811  (pytest fixtures imported from tests/runtime/conftest.py are parameters here)
"""Benchmark: one call as users make it (issue 14), against raw Celery's `delay().get()`, in one run.

(a) raw Celery: `noop.delay(1).get()`, prefork pool with 2 processes, JSON, and a Redis result backend in the same
    Redis server (tests/benchmarks/raw_chord.py: raw_celery's app plus the result backend `.get()` needs, so that
    both sides are one call and its answer);
(b) ElasticCode: `POST /api/sockets/{id}/messages?wait=10` `{"data": 1}` by a user who is not an administrator
    (VIEW_FLOW on the flow and RUN_TASK on the processor, granted by the flow's owner), with a token, through a real
    Daphne serving backend.asgi as `make run` does, with `requests` keeping one HTTP connection; one processor
    worker (concurrency 2, no retries) started by a real agent, running a no-op socket.

Calls are sequential, client-observed; blocks of the two sides alternate (only the side being measured runs, as in
test_sdk_bench.py), p50 and p95 of each side and the p50 ratio are printed (target ≤ 2.0). Where ElasticCode's time
goes, measured in the same blocks: the same POST without `?wait` (the request alone: token, rights, publish), a
small authenticated read (`GET /api/users/me/`: Daphne, Django, DRF, the token), and the service the view
calls, `message_send`, called in this process (the rights query, publish, wait: all but HTTP). Counts come from the
environment: EC_BENCH_ROUNDS (measured calls per side, 450), EC_BENCH_WARMUP (unmeasured calls at the start of each
block, 20), EC_BENCH_BLOCKS (blocks per side, 3).
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

import psutil
import pytest
import requests
from rest_framework.authtoken.models import Token

from backend.accounts.services import privilege_grant
from flows.services.messages import message_send
from tests.benchmarks import raw_chord
from tests.benchmarks.test_runtime_bench import raw_worker
from tests.benchmarks.test_sdk_bench import cpu_snapshot, pct, timed, wait_ready
from tests.factories import ProcessorFactory, SocketFactory, make_flow, make_user
from tests.live import daphne
from tests.runtime.conftest import BASE_DIR, Runtime, code_dir, runtime, start  # noqa: F401  (shared fixtures)
from tests.runtime.gitrepos import make_repo, package_files

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(1800)]

ROUNDS = int(os.environ.get("EC_BENCH_ROUNDS", "450"))
WARMUP = int(os.environ.get("EC_BENCH_WARMUP", "20"))
BLOCKS = int(os.environ.get("EC_BENCH_BLOCKS", "3"))
MODULE = "def noop(x, *rest):\n    return x\n"


class Side:
    """One measurement's values block by block, and the CPU each group of processes spent meanwhile."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.blocks: list[list[float]] = []
        self.cpu: Counter[str] = Counter()

    @property
    def values(self) -> list[float]:
        return [value for block in self.blocks for value in block]

    def measure(self, run: Callable[[], Any], expected: Any, rounds: int, names: dict[int, str], rest: str) -> None:
        before = cpu_snapshot()
        self.blocks.append(timed(run, expected, rounds, 0))
        after = cpu_snapshot()
        for pid in set(before) & set(after):
            self.cpu[names.get(pid, rest)] += after[pid] - before[pid]

    def report(self) -> tuple[float, float]:
        values = self.values
        p50, p95 = statistics.median(values), pct(values, 95)
        medians = " / ".join(f"{statistics.median(block):.2f}" for block in self.blocks)
        print(f"{self.name}: p50 {p50:.2f} ms  p95 {p95:.2f} ms  (n={len(values)}; block medians {medians} ms)")
        if self.cpu:
            spent = ", ".join(f"{who} {s * 1000 / len(values):.2f}" for who, s in sorted(self.cpu.items()))
            print(f"    CPU per call (ms): {spent}")
        return p50, p95


@pytest.mark.django_db(transaction=True)
def test_one_call_against_raw_celery_delay_get(runtime: Runtime, tmp_path: Any) -> None:
    owner = make_user("owner", "CREATE")
    caller = make_user("caller")
    assert not caller.is_superuser and not caller.is_staff
    repo = tmp_path / "call"
    make_repo(repo, package_files("eccall", MODULE))
    flow = make_flow(owner, "bench")
    processor = ProcessorFactory(
        flow=flow, name="bench", git_url=f"file://{repo}", module="eccall", concurrency=2, retries=0
    )
    socket = SocketFactory(processor=processor, name="noop", function="noop")
    privilege_grant(right="VIEW_FLOW", user=caller, obj=flow, granted_by=owner)
    privilege_grant(right="RUN_TASK", user=caller, obj=processor, granted_by=owner)
    start(processor)
    sizes = [ROUNDS // BLOCKS + (1 if b < ROUNDS % BLOCKS else 0) for b in range(BLOCKS)]

    raw = Side("raw Celery noop.delay(1).get()")
    ec = Side("ElasticCode POST /api/sockets/{id}/messages?wait=10")
    ec_nowait = Side("  the same POST without ?wait (202)")
    ec_read = Side("  GET /api/users/me/ (a small authenticated read, for scale)")
    ec_direct = Side("  message_send in this process (rights, publish, wait: all but HTTP)")

    def raw_call() -> Any:
        return raw_chord.noop.delay(1).get(timeout=10)

    def direct_call() -> Any:
        return message_send(user=caller, socket=socket, data=1, args=[], wait=10)["results"]

    with daphne() as url, requests.Session() as http:
        http.headers["Authorization"] = f"Token {Token.objects.get_or_create(user=caller)[0].key}"
        send = f"{url}/api/sockets/{socket.pk}/messages"

        def ec_call() -> Any:
            response = http.post(f"{send}?wait=10", json={"data": 1})
            assert response.status_code == 200, response.text
            return response.json()["results"]

        def ec_send() -> Any:
            return http.post(send, json={"data": 1}).status_code

        def ec_me() -> Any:
            return http.get(f"{url}/api/users/me/").json()["username"]

        [server] = [p for p in psutil.Process().children(recursive=True) if "daphne" in " ".join(p.cmdline())]
        names = {os.getpid(): "client", server.pid: "Daphne"}

        # Blocks alternate (raw, ElasticCode, raw, ...) and only the side being measured runs: the raw worker for
        # its blocks, the agent (with the processor's worker and executors) for ElasticCode's. Warm-up calls are
        # dropped at the start of each block.
        for size in sizes:
            worker = raw_worker("tests.benchmarks.raw_chord", raw_chord.QUEUE)
            try:
                raw_pids = wait_ready(worker)
                timed(raw_call, 1, 0, WARMUP)
                raw.measure(raw_call, 1, size, {**names, **dict.fromkeys(raw_pids, "raw worker")}, "others")
            finally:
                worker.terminate()
                worker.wait(30)

            runtime.start_agent()
            runtime.wait_status(processor, "running")
            timed(ec_call, [1], 0, WARMUP)
            ec.measure(ec_call, [1], size, names, "agent + worker + executors")
            ec_nowait.measure(ec_send, 202, size // 3, names, "agent + worker + executors")
            ec_read.measure(ec_me, "caller", size // 3, names, "agent + worker + executors")
            ec_direct.measure(direct_call, [1], size // 3, names, "agent + worker + executors")
            runtime.stop_agents()
            runtime.agents.clear()

    assert len(raw.values) == len(ec.values) == ROUNDS
    print()
    raw_p50, raw_p95 = raw.report()
    ec_p50, ec_p95 = ec.report()
    for side in (ec_nowait, ec_read, ec_direct):
        side.report()
    print(f"ratio ElasticCode / raw: p50 {ec_p50 / raw_p50:.2f} (target ≤ 2.0)  p95 {ec_p95 / raw_p95:.2f}")
