"""Issue 14, cases 2 and 4: whatever user code produces is stored safely or refused clearly, and no single bad
record stops a loop that serves everyone (lineage, retries, the consumer, the housekeeper).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from flows import tasks
from flows.models import Call, Flow, Socket
from flows.runtime import broker, housekeeping, keys
from flows.runtime.context import WorkerContext, install
from flows.runtime.envelope import new_envelope
from flows.runtime.executor import Limits
from flows.runtime.housekeeping import Housekeeper, flush_lineage
from tests.factories import ProcessorFactory, SocketFactory, make_flow
from tests.runtime.conftest import Runtime, start
from tests.runtime.gitrepos import make_repo, package_files
from tests.runtime.test_flow_runs import send

pytestmark = pytest.mark.runtime

POISON = """
def nul(n):
    print("before\\x00after")
    return n


def deep(levels):
    value = []
    for _ in range(levels):
        value = [value]
    return value


def relay(n):
    return n


def odd_print(n):
    print("x\\udc00y")  # a lone surrogate: not text, printed all the same
    return n
"""


def record(**fields: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "id": str(uuid.uuid4()),
        "trace_id": str(uuid.uuid4()),
        "parent_id": None,
        "flow_id": str(uuid.uuid4()),
        "socket_id": str(uuid.uuid4()),
        "socket_name": "s",
        "status": "succeeded",
        "received_at": now,
        "started_at": now,
        "finished_at": now,
        "duration_ms": 1.0,
        "worker": "w",
        "attempt": 1,
        **fields,
    }


# -- case 2: one NUL byte stopped call history for everyone ----------------------------------------------------


def test_lineage_stores_what_postgresql_cannot_hold_escaped_and_quarantines_what_it_cannot_write(
    transactional_db: Any,
) -> None:
    client = broker.client()
    client.delete(keys.LINEAGE, keys.LINEAGE_QUARANTINE)
    nul = record(stdout="before\x00after", stderr="\x00")
    surrogate = record(error="ValueError: x\udc00y", traceback="tb \udc00")
    plain = record(stdout="fine")
    bad_id = record(id="not-a-uuid")
    overflow = record(attempt=10**9)  # a smallint column
    for item in (nul, surrogate, plain, bad_id, overflow):
        client.rpush(keys.LINEAGE, json.dumps(item))
    client.rpush(keys.LINEAGE, b"\xff not json at all")

    flush_lineage()

    assert Call.objects.get(pk=nul["id"]).stdout == "before\\x00after"
    assert Call.objects.get(pk=surrogate["id"]).error == "ValueError: x\\udc00y"
    assert Call.objects.get(pk=plain["id"]).stdout == "fine"
    assert client.llen(keys.LINEAGE) == 0
    quarantined = client.lrange(keys.LINEAGE_QUARANTINE, 0, -1)
    assert len(quarantined) == 3
    assert {json.loads(q)["record"]["id"] for q in quarantined[1:]} == {bad_id["id"], overflow["id"]}

    later = record(stdout="after the poison")
    client.rpush(keys.LINEAGE, json.dumps(later))
    flush_lineage()
    assert Call.objects.filter(pk=later["id"]).exists()


def test_the_housekeeper_survives_a_chore_that_fails(transactional_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(limit: int = 500) -> int:
        raise RuntimeError("a bug in one chore")

    monkeypatch.setattr(housekeeping, "release_due_retries", broken)
    client = broker.client()
    later = record(stdout="still written")
    client.rpush(keys.LINEAGE, json.dumps(later))
    keeper = Housekeeper(interval=0.05)
    keeper.start()
    try:
        deadline = time.monotonic() + 10
        while not Call.objects.filter(pk=later["id"]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # several more ticks, each meeting the broken chore
        assert keeper.is_alive()
    finally:
        keeper.stop()
    assert Call.objects.filter(pk=later["id"]).exists()


def test_a_damaged_retry_is_quarantined_and_the_others_are_released(transactional_db: Any) -> None:
    client = broker.client()
    client.delete(keys.DELAYED, keys.DELAYED_QUARANTINE)
    queue_id = str(uuid.uuid4())
    envelope = new_envelope(flow_id=str(uuid.uuid4()), socket_id=str(uuid.uuid4()), payload=1)
    client.zadd(keys.DELAYED, {"{broken": 1, json.dumps({"queue_id": queue_id, "envelope": envelope}): 1})

    housekeeping.release_due_retries()

    assert client.zcard(keys.DELAYED) == 0
    assert client.lrange(keys.DELAYED_QUARANTINE, 0, -1) == [b"{broken"]
    assert client.llen(keys.queue(queue_id)) == 1


def test_a_message_the_worker_cannot_handle_is_dead_lettered_not_retried_for_ever(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Anything but the broker or the database being away is this message's trouble: put back, it would fail
    again at once, for ever, ahead of every other message of its queue."""
    queue_id, socket_id = str(uuid.uuid4()), str(uuid.uuid4())
    envelope = new_envelope(flow_id=str(uuid.uuid4()), socket_id=socket_id, payload=1)
    broker.publish([(queue_id, envelope)])

    def handle(_context: Any, _delivery: Any) -> None:
        raise UnicodeEncodeError("utf-8", "x\udc00", 1, 2, "surrogates not allowed")

    monkeypatch.setattr(tasks, "handle", handle)
    limits = Limits(memory_mb=512, cpu_seconds=10, open_files=64, capture_bytes=1024)
    context = WorkerContext(processor_id="p", name="w", python="python3", module="m", workdir=tmp_path, limits=limits)
    install(context)
    try:
        outcome = tasks.socket.apply(args=[envelope])  # the task's own body, as the worker's pool thread runs it
    finally:
        install(None)

    assert outcome.successful()  # returned: Celery acknowledges it, it is not given back to fail again
    client = broker.client()
    [dead] = client.lrange(keys.dead_letters(socket_id), 0, -1)
    entry = json.loads(dead)
    assert entry["error_type"] == "InternalError" and entry["envelope"]["id"] == envelope["id"]


# -- end to end, through a real agent and worker ---------------------------------------------------------------


@pytest.fixture
def poison_flow(runtime: Runtime, alice: Any, tmp_path: Path) -> Flow:
    make_repo(tmp_path / "poison", package_files("ecpoison", POISON))
    flow = make_flow(alice, "poison")
    processor = ProcessorFactory(
        flow=flow, name="poison", git_url=f"file://{tmp_path / 'poison'}", module="ecpoison", retries=3
    )
    for function in ("nul", "deep", "relay", "odd_print"):
        SocketFactory(processor=processor, name=function, function=function)
    start(processor)
    runtime.start_agent()
    runtime.wait_status(processor, "running")
    return flow


def test_a_nul_in_a_calls_output_is_recorded_and_history_goes_on(
    runtime: Runtime, alice: Any, poison_flow: Flow
) -> None:
    first = send(alice, poison_flow, "nul", 1).json()
    second = send(alice, poison_flow, "relay", 2).json()

    odd = send(alice, poison_flow, "odd_print", 3).json()

    [call] = runtime.calls(first["id"], 1)
    assert call.stdout.startswith("before\\x00after")
    runtime.calls(second["id"], 1)
    assert odd["results"] == [3]  # the print did not fail the call
    assert runtime.calls(odd["id"], 1)[0].stdout.startswith("x\\udc00y")


@pytest.mark.parametrize("levels", [150, 990])
def test_a_result_nested_too_deep_is_dead_lettered_at_once_and_the_worker_goes_on(
    runtime: Runtime, alice: Any, poison_flow: Flow, levels: int
) -> None:
    answer = send(alice, poison_flow, "deep", levels).json()
    after = send(alice, poison_flow, "relay", "next").json()

    assert answer["error"]["attempts"] == 1  # an invalid result is never retried (retries=3)
    assert "levels deep" in answer["error"]["error"]
    assert after["results"] == ["next"]
    socket = Socket.objects.get(flow=poison_flow, name="deep")
    assert broker.client().llen(keys.dead_letters(socket.pk)) == 1


# -- case 4: ec and deep JSON on stdin ---------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [2000, 100_000])
def test_ec_says_in_one_line_that_json_on_stdin_is_too_deep(levels: int) -> None:
    ec = [sys.executable, "-m", "flows.client.cli.main", "--url", "http://127.0.0.1:9", "--token", "t"]
    done = subprocess.run(
        [*ec, "task", "run", "-s", "sock"],
        input="[" * levels + "]" * levels,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("ec: ") and "nested too deeply" in done.stderr
