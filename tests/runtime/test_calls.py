"""Girder's examples on real workers: calls from inside a function (`from elasticcode import call, calls`), the
emergent tree in lineage, remote error chains, recursion that never starves one slot, the depth limit, memoized
pure sockets (flows/runtime/calls.py, memo.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from flows.models import Call, CallStatus, Flow, Socket
from flows.runtime import traces
from tests.factories import PlugFactory, ProcessorFactory, SocketFactory, make_flow
from tests.runtime.conftest import Runtime, start
from tests.runtime.gitrepos import make_repo, package_files
from tests.runtime.test_flow_runs import client_for

pytestmark = pytest.mark.runtime

GIRDER = """
import os, time
from elasticcode import call, calls, CallFailed

def divide(a, b):
    return a / b

def ratio(n):
    return call("divide", n, 0)

def half(n):
    return call("divide", n, 2)

def both(n):
    return calls([("divide", n, 2), ("double", n), ("half", n)])

def double(n):
    return 2 * n

def forgiving(n):
    try:
        return call("divide", n, 0)
    except CallFailed as failure:
        return {"caught": failure.error_type, "in": failure.socket}

def bogosity(msec, jobnum, reclevel, numrecjobs, args):
    reqs = [("bogosity", msec, i, reclevel - 1, numrecjobs, args) for i in range(reclevel)]
    vs = calls(reqs)
    time.sleep(msec / 1000)
    return f"Bogosity:{jobnum}:{msec}:{reclevel}:{args}:[{','.join(map(str, vs))}]"

def forever(n):
    return call("forever", n + 1)

def counted(n):
    with open("runs.txt", "a") as f:
        f.write(f"{n}\\n")
    time.sleep(0.5)
    with open("runs.txt") as f:
        return {"square": n * n, "runs": len(f.read().split())}

def square_twice(n):
    return calls([("counted", n), ("counted", n)])

def no_such(n):
    return call("nowhere", n)

def forged(n):
    # User code may raise CallFailed with any document: what reaches the error chain must stay text, and bounded.
    raise CallFailed({"error": "x" * 100000, "traceback": "z" * 1000000, "error_type": ["no"],
                      "chain": [{"socket": ["not", "text"], "call": "y" * 10000}] * 100})
"""
FUNCTIONS = [
    "divide",
    "ratio",
    "half",
    "both",
    "double",
    "forgiving",
    "bogosity",
    "forever",
    "counted",
    "square_twice",
    "no_such",
    "forged",
]


@pytest.fixture
def girder(runtime: Runtime, alice: Any, tmp_path: Path) -> Flow:
    """One processor with every Girder function as a socket, and one slot: recursion must not starve it."""
    repo = tmp_path / "girder"
    make_repo(repo, package_files("girder", GIRDER))
    flow = make_flow(alice, "girder")
    proc = ProcessorFactory(
        flow=flow, name="girder", git_url=f"file://{repo}", module="girder", retries=0, concurrency=1
    )
    for name in FUNCTIONS:
        SocketFactory(processor=proc, name=name, function=name, pure=name in ("bogosity", "counted"))
    start(proc)
    runtime.start_agent(ELASTICCODE_CALL_MAX_DEPTH="8")
    runtime.wait_status(proc, "running")
    return flow


def answer(alice: Any, flow: Flow, socket: str, data: Any, *args: Any, wait: float = 60) -> dict[str, Any]:
    sock = Socket.objects.get(flow=flow, name=socket)
    response = client_for(alice).post(
        f"/api/sockets/{sock.pk}/messages?wait={wait}", {"data": data, "args": list(args)}, format="json"
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_a_call_returns_the_callees_result_and_lineage_draws_it_under_its_caller(
    girder: Flow, alice: Any, runtime: Runtime
) -> None:
    body = answer(alice, girder, "half", 5)
    assert body["results"] == [2.5]
    calls = runtime.calls(body["id"], 2)
    tree = client_for(alice).get(f"/api/calls/{body['id']}/graph").json()
    [root] = tree["roots"]
    assert root["socket_name"] == "half"
    [child] = root["children"]
    # half's call("divide", n, 2): the payload and the extra args are both kept, so the trace reads divide(5, 2).
    assert child["socket_name"] == "divide" and child["input"] == "5" and json.loads(child["args"]) == [2]
    assert root["args"] == ""  # sent with no args
    assert {c.status for c in calls} == {"succeeded"}


def test_calls_run_in_parallel_and_answer_in_order(girder: Flow, alice: Any) -> None:
    assert answer(alice, girder, "both", 6)["results"] == [[3.0, 12, 3.0]]


def test_an_error_names_every_socket_on_the_way_with_the_original_traceback(girder: Flow, alice: Any) -> None:
    """Girder's ratio/divide: ratio(1) → divide(1, 0): ZeroDivisionError in divide, called from ratio."""
    body = answer(alice, girder, "ratio", 1)
    error = body["error"]
    assert error["error_type"] == "ZeroDivisionError"
    assert error["error"] == "ZeroDivisionError: division by zero (in divide(1, 0), called from ratio(1))"
    assert [link["socket"] for link in error["chain"]] == ["divide", "ratio"]
    assert error["origin"] == "divide"
    assert "return a / b" in error["traceback"]  # the original traceback, from divide
    assert 'return call("divide", n, 0)' in error["traceback"]  # then where ratio made the call


def test_a_caller_may_catch_the_failure(girder: Flow, alice: Any) -> None:
    assert answer(alice, girder, "forgiving", 1)["results"] == [{"caught": "ZeroDivisionError", "in": "divide"}]


def test_a_failed_call_is_raised_in_its_caller_and_the_run_says_who_handled_it(
    girder: Flow, alice: Any, runtime: Runtime
) -> None:
    """Found by a newcomer: the divide whose error failed ratio read "failed (handled)", and ratio's run "(1 handled)",
    though nothing handled it. A failed call from a function is `raised`; its run is handled only when the caller
    went on (caught it), and failed when the caller failed with it."""
    failed = answer(alice, girder, "ratio", 1)
    caught = answer(alice, girder, "forgiving", 1)
    for body, caller in ((failed, ("ratio", "dead")), (caught, ("forgiving", "succeeded"))):
        calls = {c.socket_name: c.status for c in runtime.calls(body["id"], 2)}
        assert calls == dict([("divide", "raised"), caller])
    runs = runtime.wait_for(
        lambda: (
            (rows := {r["root_id"]: r for r in client_for(alice).get(f"/api/flows/{girder.pk}/runs/").json()["runs"]})
            and failed["id"] in rows
            and caught["id"] in rows
            and rows
        ),
        20,
        "both runs",
    )
    assert (runs[failed["id"]]["status"], runs[failed["id"]]["handled_calls"]) == ("failed", 0)
    assert (runs[caught["id"]]["status"], runs[caught["id"]]["handled_calls"]) == ("handled", 1)


def test_a_call_to_a_socket_the_flow_does_not_have_fails_clearly(girder: Flow, alice: Any) -> None:
    error = answer(alice, girder, "no_such", 1)["error"]
    assert error["error_type"] == "LookupError"
    assert "this flow has no socket named 'nowhere'" in error["error"]


def test_bogosity_recursion_finishes_on_one_slot(girder: Flow, alice: Any, runtime: Runtime) -> None:
    """Girder's bogosity: each request spawns reclevel levels of sub-requests; 10 top-level requests. The one slot
    waiting on its calls serves the queue meanwhile, so it never starves; memoized, shared sub-requests run once."""
    sock = Socket.objects.get(flow=girder, name="bogosity")
    client = client_for(alice)
    ids = []
    for job in range(10):
        response = client.post(f"/api/sockets/{sock.pk}/messages", {"data": 1, "args": [job, 3, 5, 222]}, format="json")
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    leaf = "Bogosity:0:1:0:222:[]"
    level1 = f"Bogosity:0:1:1:222:[{leaf}]"
    level2 = [f"Bogosity:{j}:1:2:222:[{level1},Bogosity:1:1:1:222:[{leaf}]]" for j in range(2)]
    for job, message_id in enumerate(ids):
        body = traces.wait(message_id, 90)
        assert body is not None, runtime.logs()
        expected = "Bogosity:%d:1:3:222:[%s,%s,Bogosity:2:1:2:222:[Bogosity:0:1:1:222:[%s],Bogosity:1:1:1:222:[%s]]]"
        assert body["results"] == [expected % (job, level2[0], level2[1], leaf, leaf)], body


def test_runaway_recursion_fails_at_the_depth_limit_instead_of_hanging(girder: Flow, alice: Any) -> None:
    error = answer(alice, girder, "forever", 0)["error"]
    assert error["error_type"] == "CallDepthExceeded"
    assert "calls nested deeper than 8 (ELASTICCODE_CALL_MAX_DEPTH)" in error["error"]
    # The call refused, forever(8), then the eight that made it, innermost first.
    assert [link["call"] for link in error["chain"]] == [f"forever({n})" for n in range(8, -1, -1)]


def test_a_pure_socket_runs_identical_concurrent_calls_once_and_shows_the_hit(
    girder: Flow, alice: Any, runtime: Runtime
) -> None:
    body = answer(alice, girder, "square_twice", 7)
    assert body["results"] == [[{"square": 49, "runs": 1}] * 2]  # two identical calls, one run
    # Again later, sent straight to the socket: the memo answers, the function does not run; the trace shows it.
    again = answer(alice, girder, "counted", 7)
    assert again["results"] == [{"square": 49, "runs": 1}]
    hit = runtime.wait_for(
        lambda: Call.objects.filter(trace_id=again["id"], status="cached").first(), 20, "the cached call"
    )
    # What it was given is kept as for a call that ran (found by a newcomer: a hit's input was empty).
    assert (hit.socket_name, hit.input, hit.output) == ("counted", "7", '{"square":49,"runs":1}')
    # A call from a function is answered from the memo before any message is sent, and drawn as a hit too.
    twice = answer(alice, girder, "square_twice", 7)
    assert twice["results"] == [[{"square": 49, "runs": 1}] * 2]
    hits = runtime.wait_for(
        lambda: list(Call.objects.filter(trace_id=twice["id"], status="cached")) or None, 20, "the hits"
    )
    assert {c.parent_id for c in hits} == {uuid.UUID(twice["id"])}


def test_a_chaos_drill_fails_calls_on_purpose_and_retries_still_reach_every_result(
    runtime: Runtime, alice: Any, sink_repo: str
) -> None:
    """ElasticFlow's chaos_spirits: at 20 %, calls fail with an injected ChaosError before the function runs; the
    processor's retries carry every message through both hops all the same, and lineage shows the drill."""
    flow = make_flow(alice, "drill", chaos=20)
    proc = ProcessorFactory(flow=flow, name="relay", git_url=sink_repo, module="ecsink", retries=8, concurrency=2)
    first = SocketFactory(processor=proc, name="first", function="relay")
    second = SocketFactory(processor=proc, name="second", function="relay")
    PlugFactory(source=first, target=second)
    start(proc)
    runtime.start_agent()
    runtime.wait_status(proc, "running")
    results = [answer(alice, flow, "first", n)["results"] for n in range(20)]
    assert results == [[n] for n in range(20)]
    # Lineage keeps one row a call, its last attempt: the drill shows as calls that needed more than one. Rows are
    # written in batches after the answers, so wait until none is still in flight (received, running, retrying).
    in_flight = {CallStatus.RECEIVED, CallStatus.RUNNING, CallStatus.RETRYING}

    def settled_retries() -> list[Call] | None:
        calls = list(Call.objects.filter(flow=flow))
        if any(c.status in in_flight for c in calls):
            return None
        return [c for c in calls if c.attempt > 1] or None

    retried = runtime.wait_for(settled_retries, 30, "the drill's retried calls to settle")
    assert all(c.status == CallStatus.SUCCEEDED for c in retried)


def test_a_forged_call_failure_is_kept_as_bounded_text(girder: Flow, alice: Any) -> None:
    error = answer(alice, girder, "forged", 1)["error"]
    assert len(error["error"]) < 2000 + 10 * 300 and len(error["traceback"]) <= 2 * 20_000 + 200
    assert error["error_type"] == "['no']"
    assert len(error["chain"]) == 8 + 2  # the depth limit's worth of links, then this call
    assert all(isinstance(link["socket"], str) and len(link["call"]) <= 280 for link in error["chain"])
    assert error["chain"][-1] == {"socket": "forged", "call": "forged(1)"}


@pytest.mark.parametrize("any_broker", ["rabbitmq"], indirect=True)
def test_calls_chain_errors_and_recursion_on_rabbitmq(
    runtime: Runtime, any_broker: str, alice: Any, tmp_path: Path
) -> None:
    """The same calls with the socket queues on RabbitMQ (the state, answers included, stays in Redis): the widened
    prefetch window is RabbitMQ's basic.qos here."""
    repo = tmp_path / "girder"
    make_repo(repo, package_files("girder", GIRDER))
    flow = make_flow(alice, "girder")
    proc = ProcessorFactory(flow=flow, name="girder", git_url=f"file://{repo}", module="girder", retries=0)
    for name in ("divide", "ratio", "bogosity"):
        SocketFactory(processor=proc, name=name, function=name, pure=name == "bogosity")
    start(proc)
    runtime.start_agent()
    runtime.wait_status(proc, "running")
    error = answer(alice, flow, "ratio", 1)["error"]
    assert error["error"] == "ZeroDivisionError: division by zero (in divide(1, 0), called from ratio(1))"
    body = answer(alice, flow, "bogosity", 1, 0, 2, 5, 222)
    leaf = "Bogosity:0:1:0:222:[]"
    assert body["results"] == [f"Bogosity:0:1:2:222:[Bogosity:0:1:1:222:[{leaf}],Bogosity:1:1:1:222:[{leaf}]]"]


def test_a_chaos_failure_takes_the_error_plug_or_becomes_a_dead_letter_as_a_real_one(
    runtime: Runtime, alice: Any, sink_repo: str
) -> None:
    """Without retries, at 45 %: an injected failure of `first` goes along its error plug to `caught` (the failure
    document, its type ChaosError), and one of `caught`, which has no error plug, is dead-lettered."""
    flow = make_flow(alice, "drill45", chaos=45)
    proc = ProcessorFactory(flow=flow, name="relay", git_url=sink_repo, module="ecsink", retries=0, concurrency=2)
    first = SocketFactory(processor=proc, name="first", function="relay")
    caught = SocketFactory(processor=proc, name="caught", function="relay")
    PlugFactory(source=first, target=caught, kind="error")
    start(proc)
    runtime.start_agent()
    runtime.wait_status(proc, "running")
    bodies = [answer(alice, flow, "first", n) for n in range(40)]  # none of both failing: 0.8 ** 40, 1e-4
    plugged = [r for b in bodies for r in b.get("results") or [] if isinstance(r, dict)]
    assert plugged and all(r["error_type"] == "ChaosError" and r["socket"] == "first" for r in plugged)
    errors = [b["error"] for b in bodies if b.get("error")]
    assert errors and all(e["error_type"] == "ChaosError" and e["socket"] == "caught" for e in errors)
    dead = client_for(alice).get(f"/api/queues/{caught.queue_id}/dead-letters?limit=100").json()
    assert dead["count"] == len(errors)
    # The function did not run, and lineage still keeps what the call was given (it kept nothing before).
    injected = runtime.wait_for(
        lambda: list(Call.objects.filter(flow=flow, socket=first, error__startswith="ChaosError")) or None,
        20,
        "an injected failure in lineage",
    )
    assert all(c.input.isdigit() and "chaos drill (45 % of calls)" in c.error for c in injected)
