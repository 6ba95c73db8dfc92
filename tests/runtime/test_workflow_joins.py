"""The continuation logic of SDK compositions (flows/runtime/workflows.py) against the real Redis, without workers:
what finishing each call publishes, joins filled out of order, redeliveries, nesting, the answer at the bottom."""

from __future__ import annotations

import uuid
from typing import Any

from flows.runtime import workflows
from flows.runtime.envelope import Envelope


def call(name: str, *args: Any) -> dict[str, Any]:
    return {"t": "call", "s": f"s-{name}", "f": "flow", "q": f"q-{name}", "n": name, "a": list(args), "p": name}


def names(children: list[tuple[str, Envelope]]) -> list[str]:
    return [queue.removeprefix("q-") for queue, _ in children]


def test_a_funnel_starts_its_members_and_the_last_one_in_carries_on_with_the_list_in_order() -> None:
    trace = str(uuid.uuid4())
    root = {"t": "chain", "steps": [{"t": "group", "members": [call("a"), call("b"), call("c")]}, call("final", "x")]}
    first = workflows.begin(root, trace)
    assert names(first) == ["a", "b", "c"]
    a, b, c = (envelope for _, envelope in first)
    assert a["trace_id"] == trace and a["payload"] is None and a["args"] == []

    assert workflows.advance(c, "C") == workflows.Plan()  # out of order: c first
    assert workflows.advance(a, "A") == workflows.Plan()
    plan = workflows.advance(b, "B")
    [(queue, final)] = plan.children
    assert queue == "q-final"
    assert final["payload"] == ["A", "B", "C"] and final["args"] == ["x"]
    assert final["parent_id"] == b["id"]

    # b redelivered (it crashed before completing): the same continuation, same id; a redelivered: nothing.
    assert workflows.advance(b, "B").children[0][1]["id"] == final["id"]
    assert workflows.advance(a, "A") == workflows.Plan()

    done = workflows.advance(final, "result")
    assert done.answer == {"status": "succeeded", "result": "result"} and done.children == []


def test_a_pipeline_passes_the_result_first_and_a_nested_group_joins_into_its_parent() -> None:
    trace = str(uuid.uuid4())
    inner = {"t": "group", "members": [call("x"), call("y")]}
    root = {"t": "group", "members": [{"t": "chain", "steps": [call("p", 1), inner]}, call("q")]}
    p, q = (envelope for _, envelope in workflows.begin(root, trace))
    assert workflows.advance(q, "Q") == workflows.Plan()
    x, y = (envelope for _, envelope in workflows.advance(p, "P").children)
    assert x["payload"] == "P" and y["payload"] == "P"  # every member of a group gets the input
    assert workflows.advance(y, "Y") == workflows.Plan()
    # x fills the inner join, whose list fills the outer one: the answer is nested.
    assert workflows.advance(x, "X").answer == {"status": "succeeded", "result": [["X", "Y"], "Q"]}


def test_a_failure_names_the_path_of_the_call() -> None:
    [(_, envelope)] = workflows.begin({"t": "chain", "steps": [call("a")]}, str(uuid.uuid4()))
    answer = workflows.failed(envelope, {"socket": "a", "error": "ValueError: no"})
    assert answer == {"status": "failed", "error": {"socket": "a", "error": "ValueError: no", "path": "a"}}
