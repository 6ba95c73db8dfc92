"""Issue 15, item 6: processors written for PyFi run unchanged. Their functions look like
`fn(message, *args, plugs={}, output={}, **kwargs)` and set `plugs['plug1']` whatever flow they run in; PyFi dropped
values for plug names the flow did not have, and so does ElasticCode, noting it in the call's captured output.
(The module below is written for this test in that style, not copied from PyFi.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.factories import PlugFactory, ProcessorFactory, SocketFactory, make_flow
from tests.runtime.conftest import Runtime, start
from tests.runtime.gitrepos import make_repo, package_files
from tests.runtime.test_flow_runs import send

pytestmark = pytest.mark.runtime

PYFI_STYLE = """
def do_something(message, *args, plugs={}, output={}, **kwargs):
    output["calls"] = output.get("calls", 0) + 1  # a fresh dict each call: no state leaks between messages
    plugs["plug1"] = "sent along plug1: " + str(message)
    return "Something: " + str(message) + " (call " + str(output["calls"]) + ")"


def do_this(message, *args, plugs={}, output={}, **kwargs):
    return "This: " + str(message)
"""


@pytest.fixture
def pyfi_repo(tmp_path: Path) -> str:
    make_repo(tmp_path / "pyfi", package_files("pyfistyle", PYFI_STYLE))
    return f"file://{tmp_path / 'pyfi'}"


def test_a_value_for_a_plug_the_flow_has_not_is_dropped_and_noted(runtime: Runtime, alice: Any, pyfi_repo: str) -> None:
    flow = make_flow(alice, "pyfi")
    processor = ProcessorFactory(flow=flow, name="proc1", git_url=pyfi_repo, module="pyfistyle", retries=0)
    something = SocketFactory(processor=processor, name="do_something", function="do_something")
    this = SocketFactory(processor=processor, name="do_this", function="do_this")
    PlugFactory(source=something, target=this, name="next")  # no plug named plug1 in this flow
    start(processor)
    runtime.start_agent()
    runtime.wait_status(processor, "running")

    answers = [send(alice, flow, "do_something", text).json() for text in ("one", "two")]

    assert [a.get("results") for a in answers] == [
        ["This: Something: one (call 1)"],
        ["This: Something: two (call 1)"],
    ]
    [call] = [c for c in runtime.calls(answers[0]["id"], 2) if c.socket_id == something.pk]
    assert "plugs['plug1']" in call.stderr and "dropped" in call.stderr


def test_a_plug_named_like_the_key_still_takes_the_value(runtime: Runtime, alice: Any, pyfi_repo: str) -> None:
    flow = make_flow(alice, "pyfi")
    processor = ProcessorFactory(flow=flow, name="proc1", git_url=pyfi_repo, module="pyfistyle", retries=0)
    something = SocketFactory(processor=processor, name="do_something", function="do_something")
    this = SocketFactory(processor=processor, name="do_this", function="do_this")
    PlugFactory(source=something, target=this, name="plug1")
    start(processor)
    runtime.start_agent()
    runtime.wait_status(processor, "running")

    answer = send(alice, flow, "do_something", "x").json()

    assert answer["results"] == ["This: sent along plug1: x"]
    # Lineage is written in batches after the answer: wait for both calls, or the check below proves nothing.
    calls = runtime.calls(answer["id"], 2)
    assert not [c for c in calls if "dropped" in c.stderr]
