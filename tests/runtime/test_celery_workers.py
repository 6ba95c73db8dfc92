"""Processors run on Celery's own worker: Celery's tools see them (Flower's HTTP API, `celery inspect`), and what
Celery enforces for a task is enforced for a processor (its rate limit)."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from backend.cluster.models import Worker
from backend.devstack import free_port
from backend.metrics import live
from flows.models import Call
from flows.runtime import worker as workers
from tests.factories import ProcessorFactory, SocketFactory, make_flow
from tests.runtime.conftest import BASE_DIR, Runtime, start
from tests.runtime.gitrepos import make_repo, package_files
from tests.runtime.test_flow_runs import send

pytestmark = pytest.mark.runtime


def relay_flow(owner: Any, repo: str, **processor: Any) -> tuple[Any, Any, Any]:
    flow = make_flow(owner, "relay")
    proc = ProcessorFactory(flow=flow, name="relay", git_url=repo, ref="main", module="ecsink", retries=0, **processor)
    socket = SocketFactory(processor=proc, name="in", function="relay")
    return flow, proc, socket


def test_a_rate_limit_holds(runtime: Runtime, alice: Any, sink_repo: str) -> None:
    """rate_limit is Celery's own token bucket on the socket task, in the processor's worker: 5/s over 40 messages
    is 5/s within 20 %, even with two slots that could go faster."""
    flow, proc, socket = relay_flow(alice, sink_repo, rate_limit="5/s", concurrency=2)
    ids = [send(alice, flow, "in", n, wait=None).json()["id"] for n in range(40)]  # all waiting before it starts
    start(proc)
    runtime.start_agent()
    calls = runtime.wait_for(
        lambda: (rows := list(Call.objects.filter(socket=socket, status="succeeded"))) and len(rows) >= 40 and rows,
        60,
        "40 calls",
    )
    assert sorted(str(c.trace_id) for c in calls) == sorted(ids)
    starts = sorted(c.started_at.timestamp() for c in calls)
    rate = (len(starts) - 1) / (starts[-1] - starts[0])
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(starts)]
    assert 4.0 <= rate <= 6.0, f"{rate:.2f} calls/s; gaps between starts: {gaps}"


def celery_inspect(runtime: Runtime, name: str, what: str) -> Any:
    """`celery inspect <what>` of one worker, as a user runs it: its answer."""
    answer = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "backend", "inspect", what, "-d", name, "--json"],
        cwd=BASE_DIR,
        env=runtime.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout.strip().splitlines()[-1])[name]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def test_flower_and_celery_inspect_see_the_processors_workers_and_their_tasks(
    runtime: Runtime, alice: Any, sink_repo: str, tmp_path: Path
) -> None:
    flow, proc, _socket = relay_flow(alice, sink_repo)
    start(proc)
    runtime.start_agent()
    runtime.wait_status(proc, "running")
    name = workers.hostname(proc.name, str(proc.pk), runtime.node)
    assert Worker.objects.filter(processor=proc, name=name).exists()

    port = free_port()
    with open(tmp_path / "flower.log", "ab") as log:
        flower = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "backend", "flower", "--address=127.0.0.1", f"--port={port}"],
            cwd=BASE_DIR,
            # Flower's HTTP API answers without credentials only when told to (its UI does not need this).
            env={**runtime.env(), "FLOWER_UNAUTHENTICATED_API": "true"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"

        def flower_up() -> bool:
            try:
                return bool(get_json(f"{base}/api/workers?refresh=1").get(name))
            except OSError:
                return False

        runtime.wait_for(flower_up, 60, f"Flower to list {name}")
        ids = [send(alice, flow, "in", n).json()["id"] for n in range(3)]

        def tasks_seen() -> dict[str, Any]:
            tasks = get_json(f"{base}/api/tasks?workername={name}")
            # task-started and task-succeeded reach Flower a moment after task-received (the worker batches events).
            return tasks if all(tasks.get(i, {}).get("state") == "SUCCESS" for i in ids) else {}

        tasks = runtime.wait_for(tasks_seen, 30, "Flower to show the socket tasks succeeded")
        # The task is ec.socket; its `shadow` names the socket, so Flower tells one socket's tasks from another's.
        assert {tasks[i]["name"] for i in ids} == {"ec.socket:in"}
    finally:
        flower.send_signal(signal.SIGTERM)
        try:
            flower.wait(15)
        except subprocess.TimeoutExpired:
            flower.kill()

    queues = celery_inspect(runtime, name, "active_queues")
    assert {q["name"] for q in queues} == {f"ec.{s.queue_id}" for s in proc.sockets.all()}


LONG_MODULE = "import time\n\ndef long(n):\n    time.sleep(8)\n    return n\n"


def test_a_call_longer_than_the_visibility_timeout_runs_once(runtime: Runtime, alice: Any, tmp_path: Path) -> None:
    """On Redis a taken message is given back to its queue once unrenewed for the visibility timeout (here 3 s),
    and the worker's free second slot would take it and run it beside the first. The worker renews what it holds
    (flows/runtime/visibility.py), so the 8 s call runs once: the live metrics count one call in."""
    repo = tmp_path / "long"
    make_repo(repo, package_files("eclong", LONG_MODULE))
    runtime.overrides["ELASTICCODE_VISIBILITY_TIMEOUT"] = "3"
    flow = make_flow(alice, "long")
    proc = ProcessorFactory(
        flow=flow, name="long", git_url=f"file://{repo}", ref="main", module="eclong", retries=0, concurrency=2
    )
    socket = SocketFactory(processor=proc, name="long", function="long")
    start(proc)
    runtime.start_agent()
    runtime.wait_status(proc, "running")
    answer = send(alice, flow, "long", 1, wait=40)
    assert answer.json().get("results") == [1], answer.content
    time.sleep(5)  # a second run would have begun by now, and its second been flushed

    def calls_in() -> int:
        seconds = live.flow_seconds(str(flow.pk), int(time.time()), window=120)
        return sum(second["sockets"].get(str(socket.pk), live.empty_counts())["in"] for second in seconds)

    assert calls_in() == 1


NAP_MODULE = "import time\n\ndef nap(n):\n    time.sleep(0.5)\n    return n\n"


def celery_stats(runtime: Runtime, name: str) -> dict[str, Any]:
    return dict(celery_inspect(runtime, name, "stats"))


def descendants(pid: int) -> set[int]:
    """The processes below `pid` (its executors, and what they run under)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_autoscale_grows_the_slots_under_a_backlog_and_gives_them_back_when_idle(
    runtime: Runtime, alice: Any, tmp_path: Path
) -> None:
    """A processor with autoscale_max runs Celery's autoscaler (`--autoscale=4,1`) on its worker: 24 half-second
    calls waiting make it grow from 1 to 4 slots (calls overlap, and `celery inspect stats` says so), and once no
    message came for ELASTICCODE_AUTOSCALE_IDLE seconds it is back to 1 slot, with the others' executors closed."""
    repo = tmp_path / "nap"
    make_repo(repo, package_files("ecnap", NAP_MODULE))
    runtime.overrides["ELASTICCODE_AUTOSCALE_IDLE"] = "2"
    flow = make_flow(alice, "nap")
    proc = ProcessorFactory(
        flow=flow,
        name="nap",
        git_url=f"file://{repo}",
        ref="main",
        module="ecnap",
        retries=0,
        concurrency=1,
        autoscale_max=4,
    )
    socket = SocketFactory(processor=proc, name="nap", function="nap")
    start(proc)
    runtime.start_agent()
    runtime.wait_status(proc, "running")
    name = workers.hostname(proc.name, str(proc.pk), runtime.node)
    assert celery_stats(runtime, name)["autoscaler"] == {"max": 4, "min": 1, "current": 1, "qty": 0}
    pid = Worker.objects.get(name=name).pid
    assert pid is not None
    peak = 0

    def processes() -> int:
        nonlocal peak
        count = len(descendants(pid))
        peak = max(peak, count)
        return count

    before = processes()  # no executor yet: a slot starts one for its first call

    ids = [send(alice, flow, "nap", n, wait=None).json()["id"] for n in range(24)]
    grown = runtime.wait_for(
        lambda: (stats := celery_stats(runtime, name))["autoscaler"]["current"] == 4 and stats, 30, "4 slots"
    )
    assert grown["pool"]["max-concurrency"] == 4

    def all_done() -> list[Call] | None:
        processes()  # sampled while the calls run, for the peak
        rows = list(Call.objects.filter(socket=socket, status="succeeded"))
        return rows if len(rows) >= 24 else None

    calls = runtime.wait_for(all_done, 60, "24 calls")
    assert sorted(str(c.trace_id) for c in calls) == sorted(ids)
    busiest = max(
        sum(1 for other in calls if other.started_at <= call.started_at < other.finished_at) for call in calls
    )
    assert busiest >= 3, f"at most {busiest} calls ran at once"
    assert peak > before + 1  # each new slot started an executor of its own

    shrunk = runtime.wait_for(
        lambda: (stats := celery_stats(runtime, name))["autoscaler"]["current"] == 1 and stats, 30, "back to 1 slot"
    )
    assert shrunk["pool"]["threads"] == 1
    runtime.wait_for(lambda: processes() < peak, 10, "the retired slots' executors to close")
    assert "autoscale: 1 -> " in runtime.logs() and " -> 1 slots (no new message for 2 s" in runtime.logs()
