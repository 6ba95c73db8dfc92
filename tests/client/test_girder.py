# ruff: noqa: F811  (pytest fixtures imported from other conftests are parameters here)
"""Girder's examples through the SDK and the command line against a live server and real workers: a call's
result, the remote error chain in CallFailed and in `ec task run`, pure sockets and the chaos drill set from `ec`."""

from __future__ import annotations

from typing import Any

import pytest

from backend.accounts.services import privilege_grant
from flows.client import CallFailed, Client, Socket
from flows.models import Flow
from tests.client.conftest import Ec
from tests.client.test_cli import data, ok, refused
from tests.runtime.conftest import Runtime, code_dir, examples_repo, runtime  # noqa: F401  (shared fixtures)
from tests.runtime.test_calls import girder  # noqa: F401  (shared fixture)
from tests.runtime.test_flow_runs import client_for

pytestmark = pytest.mark.runtime


@pytest.fixture
def client(ec: Ec, alice: Any) -> Client:
    return Client(ec.url, ec.token_for(alice))


def test_the_sdk_gets_a_calls_result_and_a_call_failed_with_its_chain(girder: Flow, client: Client) -> None:
    assert Socket("half", client=client)(5).get(timeout=60) == 2.5
    with pytest.raises(CallFailed) as caught:
        Socket("ratio", client=client)(1).get(timeout=60)
    failure = caught.value
    assert failure.error_type == "ZeroDivisionError"
    assert failure.origin == "divide"
    assert [link["call"] for link in failure.chain] == ["divide(1, 0)", "ratio(1)"]
    assert "division by zero (in divide(1, 0), called from ratio(1))" in str(failure)
    assert "return a / b" in failure.remote_traceback


def test_ec_task_run_says_the_chain_in_one_line(girder: Flow, ec: Ec) -> None:
    line = refused(ec("task", "run", "-s", "ratio", "-d", "1", "--flow", "girder"), 1)
    assert "ZeroDivisionError: division by zero (in divide(1, 0), called from ratio(1))" in line
    assert ok(ec("task", "run", "-s", "both", "-d", "6", "--flow", "girder")).strip() == "[3.0, 12, 3.0]"


def test_ec_marks_a_socket_pure_and_runs_a_chaos_drill_only_as_the_owner(
    girder: Flow, ec: Ec, bob: Any, charlie: Any
) -> None:
    made = data(
        ec("add", "socket", "-n", "sq", "-pn", "girder", "-t", "counted", "--pure", "--flow", "girder", "--json")
    )
    assert made["pure"] is True and made["memo_ttl"] is None
    changed = data(ec("update", "socket", "-n", "sq", "--memo-ttl", "60", "--flow", "girder", "--json"))
    assert changed["memo_ttl"] == 60
    assert data(ec("update", "flow", "-n", "girder", "--chaos", "20", "--json"))["chaos"] == 20
    too_much = ec("update", "flow", "-n", "girder", "--chaos", "46")
    assert too_much.returncode == 2 and "0<=x<=45" in too_much.stderr
    # bob may change the flow, but a drill is the owner's call; charlie does not even see it.
    for right in ("VIEW_FLOW", "EDIT_FLOW"):
        privilege_grant(right=right, user=bob, obj=girder, granted_by=girder.owner)
    refused(ec("update", "flow", "-n", str(girder.pk), "--chaos", "0", user=bob), 1, "owner")
    ok(ec("update", "flow", "-n", str(girder.pk), "--description", "bob was here", user=bob))
    refused(ec("update", "flow", "-n", "girder", "--chaos", "0", user=charlie), 1)
    girder.refresh_from_db()
    assert girder.chaos == 20
    ok(ec("update", "flow", "-n", "girder", "--chaos", "0"))
    girder.refresh_from_db()
    assert girder.chaos == 0


def test_the_readme_girder_recipe_runs_on_the_demo_repository(
    runtime: Runtime, ec: Ec, alice: Any, examples_repo: str
) -> None:
    """The README's commands on the demo repository's `elasticcode_examples.girder` (found by a newcomer: the README
    called `both` and `double`, which the demo module did not have). `half`'s call keeps its extra arg in lineage."""
    ok(ec("add", "flow", "-n", "demo"))
    ok(ec("add", "processor", "-n", "girder", "-g", examples_repo, "--subdirectory", "sample",
          "-m", "elasticcode_examples.girder", "--flow", "demo"))  # fmt: skip
    for name in ("divide", "double", "half", "both", "ratio", "safe_ratio"):
        ok(ec("add", "socket", "-n", name, "-pn", "girder", "-t", name, "--flow", "demo"))
    ok(ec("update", "processor", "-n", "girder", "--retries", "0", "--flow", "demo"))  # the README waits out 3
    runtime.start_agent()
    ok(ec("proc", "start", "-n", "girder", "--wait", "--flow", "demo"))
    assert ok(ec("task", "run", "-s", "both", "-d", "5", "--flow", "demo")).strip() == "[2.5, 10]"
    assert (
        ok(ec("task", "run", "-s", "safe_ratio", "-d", "1", "--flow", "demo")).strip() == "ZeroDivisionError in divide"
    )
    line = refused(ec("task", "run", "-s", "ratio", "-d", "1", "--flow", "demo"), 1)
    assert "ZeroDivisionError: division by zero (in divide(1, 0), called from ratio(1))" in line
    sent = data(ec("task", "run", "-s", "half", "-d", "5", "--flow", "demo", "--json"))

    def nested() -> list[dict[str, Any]] | None:
        roots = client_for(alice).get(f"/api/calls/{sent['id']}/graph").json().get("roots") or []
        return roots[0]["children"] if roots and roots[0]["children"] else None

    [divide] = runtime.wait_for(nested, 20, "half's call to divide in lineage")
    assert (divide["socket_name"], divide["input"], divide["args"], divide["output"]) == ("divide", "5", "[2]", "2.5")
