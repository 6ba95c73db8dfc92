# ruff: noqa: F811  (pytest fixtures imported from tests/runtime/conftest.py are parameters here)
"""Benchmark: an SDK funnel of 10 parallel calls into one against a raw Celery chord of 10 no-op tasks, in one run.

(a) raw Celery: `chord([noop.s(i) for i in range(10)])(collect.s()).get()`, prefork pool with 2 processes, JSON,
    Redis result backend (tests/benchmarks/raw_chord.py); its get() waits on Redis pub/sub, not on a timer;
(b) ElasticCode: `funnel([noop(i) for i in range(10)])(collect()).get()` through the SDK, a token and a live Daphne
    (one HTTP long poll), one processor with concurrency 2 and no retries.
Both are client-observed latency, p50 and p95; the target is ElasticCode / raw ≤ 1.0. Where the time goes: one bare
call on each side, ElasticCode's HTTP floor (reading an answer that is already in), and the CPU each group of
processes spends per round (PostgreSQL and Redis, shared, are not counted). Counts come from the
environment, so a smoke run can be short: EC_BENCH_ROUNDS (measured rounds per side, 300), EC_BENCH_WARMUP
(unmeasured rounds at the start of every block, 20), EC_BENCH_BLOCKS (blocks per side, 3).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psutil
import pytest
from celery import chord
from rest_framework.authtoken.models import Token

from flows.client import Client, Processor, Socket, funnel
from flows.models import Processor as ProcessorRow
from tests.benchmarks import raw_chord
from tests.benchmarks.test_runtime_bench import raw_worker
from tests.factories import make_user
from tests.live import daphne
from tests.runtime.conftest import BASE_DIR, Runtime, code_dir, runtime  # noqa: F401  (shared fixtures)
from tests.runtime.gitrepos import make_repo, package_files

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(1800)]

ROUNDS = int(os.environ.get("EC_BENCH_ROUNDS", "300"))
WARMUP = int(os.environ.get("EC_BENCH_WARMUP", "20"))
BLOCKS = int(os.environ.get("EC_BENCH_BLOCKS", "3"))
WIDTH = 10
MODULE = "def noop(x, *rest):\n    return x\n\n\ndef collect(results, *rest):\n    return len(results)\n"


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def timed(run: Callable[[], Any], expected: Any, rounds: int, warmup: int) -> list[float]:
    """Milliseconds of each of `rounds` runs after `warmup` unmeasured ones; every answer must be `expected`."""
    out = []
    for i in range(warmup + rounds):
        started = time.perf_counter()
        answer = run()
        elapsed = (time.perf_counter() - started) * 1000
        assert answer == expected, answer
        if i >= warmup:
            out.append(elapsed)
    return out


def cpu_snapshot() -> dict[int, float]:
    """CPU seconds (user + system) of this process and each of its descendants, by pid. Redis and PostgreSQL are
    not descendants (the devstack runs them), so what both sides share is left out of both."""
    out = {}
    for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        out[proc.pid] = times.user + times.system
    return out


def wait_ready(worker: subprocess.Popen[bytes], timeout: float = 60) -> set[int]:
    """Wait until the worker answers a ping; the pids of the worker and its pool processes."""
    deadline = time.monotonic() + timeout
    while not raw_chord.app.control.ping(timeout=0.5):
        assert worker.poll() is None, f"the raw Celery worker exited ({worker.returncode})"
        assert time.monotonic() < deadline, "the raw Celery worker did not answer a ping"
    return {worker.pid, *(child.pid for child in psutil.Process(worker.pid).children(recursive=True))}


def raw_chord_run() -> Any:
    header = [raw_chord.noop.s(i) for i in range(WIDTH)]
    return chord(header, app=raw_chord.app)(raw_chord.collect.s()).get(timeout=30)


def report(name: str, values: list[float], blocks: list[list[float]]) -> tuple[float, float]:
    p50, p95 = statistics.median(values), pct(values, 95)
    medians = " / ".join(f"{statistics.median(block):.2f}" for block in blocks)
    print(f"{name}: p50 {p50:.2f} ms  p95 {p95:.2f} ms  (n={len(values)}; block medians {medians} ms)")
    return p50, p95


class Side:
    """One side's measurements, block by block, and the CPU each group of processes spent meanwhile."""

    def __init__(self) -> None:
        self.blocks: list[list[float]] = []  # the chord / the funnel
        self.bare: list[float] = []  # one bare call
        self.cpu: Counter[str] = Counter()

    @property
    def rounds(self) -> list[float]:
        return [value for block in self.blocks for value in block]

    def measure(self, run: Callable[[], Any], rounds: int, names: dict[int, str], rest: str) -> None:
        """A block's measured rounds; `names` groups processes by pid, `rest` names the others."""
        before = cpu_snapshot()
        self.blocks.append(timed(run, WIDTH, rounds, 0))
        after = cpu_snapshot()
        for pid in set(before) & set(after):
            self.cpu[names.get(pid, rest)] += after[pid] - before[pid]

    def cpu_line(self, name: str) -> str:
        spent = ", ".join(f"{who} {seconds * 1000 / len(self.rounds):.2f}" for who, seconds in sorted(self.cpu.items()))
        return f"{name}, CPU per round (ms): {spent}"


@pytest.mark.django_db(transaction=True)
def test_funnel_against_raw_celery_chord(runtime: Runtime, tmp_path: Any) -> None:
    owner = make_user("bench", "CREATE")
    repo = tmp_path / "funnel"
    make_repo(repo, package_files("ecfunnel", MODULE))
    sizes = [ROUNDS // BLOCKS + (1 if b < ROUNDS % BLOCKS else 0) for b in range(BLOCKS)]

    with daphne() as url:
        client = Client(url, Token.objects.get_or_create(user=owner)[0].key)
        processor = Processor(
            name="bench", module="ecfunnel", gitrepo=f"file://{repo}", concurrency=2, client=client, start=False
        )
        client.api.patch(f"/api/processors/{processor.id}/", {"retries": 0})
        noop = Socket(name="noop", processor=processor, task="noop")
        collect = Socket(name="collect", processor=processor, task="collect")
        client.api.post(f"/api/processors/{processor.id}/start")
        row = ProcessorRow.objects.get(pk=processor.id)
        [server] = [p for p in psutil.Process().children(recursive=True) if "daphne" in " ".join(p.cmdline())]
        names = {os.getpid(): "client", server.pid: "Daphne"}

        def ec_funnel_run() -> Any:
            return funnel([noop(i) for i in range(WIDTH)])(collect()).get(timeout=30)

        raw, ec = Side(), Side()
        http_floor: list[float] = []
        # Blocks alternate (raw, ElasticCode, raw, ...) so that a burst of load from elsewhere on this shared 2-core
        # machine does not land on one side only, and only the side being measured runs: the raw worker is started
        # for its blocks, the agent (and with it the processor's worker and executors) for ElasticCode's. Idle, that
        # stack is not free (the agent ticks every 0.2 s in tests: left up during raw blocks, it took about 6% of a
        # core), and pausing the processor would not help (a paused fetcher wakes every 0.2 s, an idle one blocks in
        # BLMOVE). Each side restarts warm in a few seconds and its warm-up rounds are dropped. Daphne stays up:
        # idle, it costs nothing, as the CPU figures printed for the raw side show.
        for size in sizes:
            worker = raw_worker("tests.benchmarks.raw_chord", raw_chord.QUEUE)
            try:
                raw_pids = wait_ready(worker)
                timed(raw_chord_run, WIDTH, 0, WARMUP)
                raw.measure(raw_chord_run, size, {**names, **dict.fromkeys(raw_pids, "raw worker")}, "others")
                raw.bare += timed(lambda: raw_chord.noop.delay(1).get(timeout=30), 1, size, 0)
            finally:
                worker.terminate()
                worker.wait(30)

            runtime.start_agent()
            runtime.wait_status(row, "running")
            timed(ec_funnel_run, WIDTH, 0, WARMUP)
            ec.measure(ec_funnel_run, size, names, "agent + worker + executors")
            ec.bare += timed(lambda: noop(1).get(timeout=30), 1, size, 0)
            # The HTTP floor: reading an answer that is already there (token check, two Redis reads).
            finished = noop(1).delay()
            assert finished.get(timeout=30) == 1
            answer = f"/api/workflows/{finished.id}/"
            http_floor += timed(lambda answer=answer: client.api.get(answer)["result"], 1, size, 0)
            runtime.stop_agents()
            runtime.agents.clear()
        client.close()

    assert len(raw.rounds) == len(ec.rounds) == ROUNDS
    raw_p50, raw_p95 = report(f"raw Celery chord of {WIDTH} no-ops", raw.rounds, raw.blocks)
    ec_p50, ec_p95 = report(f"ElasticCode funnel of {WIDTH} no-ops", ec.rounds, ec.blocks)
    print(f"ratio ElasticCode / raw: p50 {ec_p50 / raw_p50:.2f}  p95 {ec_p95 / raw_p95:.2f}  (target ≤ 1.0)")
    print(
        f"one bare call, p50: raw noop.delay(1).get() {statistics.median(raw.bare):.2f} ms, "
        f"ElasticCode noop(1).get() {statistics.median(ec.bare):.2f} ms; "
        f"ElasticCode GET of a finished answer {statistics.median(http_floor):.2f} ms"
    )
    print(raw.cpu_line("raw chord"))
    print(ec.cpu_line("ElasticCode funnel"))
