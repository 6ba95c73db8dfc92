"""Debugging a flow in the designer (issue 16): clicking a socket opens its tools first; a test message that fails,
with no error plug to take it, shows as a failure (in red, its error once, the traceback one click away), the
processor's retries show while the answer is awaited, and the live error count counts the message once; the Runs
panel lists the runs from the database after a reload and opens one, with each step's data; the palette's
functions, of code in use or of a trusted repository, drag onto the canvas."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from flows.models import Processor, TrustedRepository
from tests.e2e.conftest import login
from tests.e2e.test_designer import settle, user
from tests.factories import ProcessorFactory, SocketFactory, make_flow
from tests.live import daphne
from tests.runtime.conftest import Runtime, start
from tests.runtime.gitrepos import make_repo, package_files

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

MODULE = '''
def check(order):
    """Refuse an order without an amount."""
    if "amount" not in order:
        raise ValueError("an order needs an amount")
    return order["amount"]
'''


def test_a_failing_test_message_shows_as_a_failure_with_its_retries_and_traceback(
    runtime: Runtime, new_page: Any, tmp_path: Path
) -> None:
    repo = tmp_path / "orders"
    make_repo(repo, package_files("e2eorders", MODULE))
    library = tmp_path / "library"
    make_repo(
        library, {"tools/shapes/__init__.py": "", "tools/shapes/area.py": "def square(side):\n    return side**2\n"}
    )
    TrustedRepository.objects.create(pattern=f"file://{library}", note="shapes")
    alice = user("alice", "CREATE")
    flow = make_flow(alice, "orders")
    proc: Processor = ProcessorFactory(
        flow=flow, name="orders", git_url=f"file://{repo}", ref="main", module="e2eorders", retries=3
    )
    SocketFactory(processor=proc, name="check", function="check")
    start(proc)
    runtime.start_agent()
    runtime.wait_status(proc, "running")

    with daphne(**{k: v for k, v in runtime.env().items() if k.startswith("ELASTICCODE_")}) as url:
        page = new_page()
        login(page, url, "alice", "pw-alice-e2e")
        page.goto(f"{url}/flows/{flow.pk}/")
        settle(page)
        # A click on the socket's row opens the processor's panel with that socket's tools first.
        page.get_by_test_id("socket-check").click()
        focus = page.get_by_test_id("socket-focus")
        expect(focus).to_contain_text("check")
        tools = focus.get_by_test_id("tools-check")
        tools.get_by_label("Message for check").fill('{"customer": "ada"}')
        tools.get_by_role("button", name="Send", exact=True).click()

        # Retries take 1 + 2 + 4 s here; they show while the answer is awaited, not as a silent "Waiting…".
        expect(tools.get_by_test_id("answer-retrying")).to_contain_text("retrying", timeout=20_000)
        answer = tools.get_by_test_id("answer")
        expect(answer).to_have_attribute("data-outcome", "failed", timeout=60_000)
        failure = answer.get_by_test_id("answer-failure").inner_text()
        assert "Failed in check after 4 attempts: ValueError: an order needs an amount" in failure
        assert failure.count("ValueError") == 1
        assert answer.get_by_test_id("answer-result").count() == 0
        answer.get_by_role("button", name="show traceback").click()
        expect(answer.get_by_test_id("answer-traceback")).to_contain_text(
            'raise ValueError("an order needs an amount")'
        )

        # One failed message is one error in the live numbers, not one per attempt.
        expect(page.get_by_test_id(f"errors-{proc.pk}")).to_have_text("1", timeout=15_000)
        page.screenshot(path=str(tmp_path / "failure.png"))

        # A good message too; then, after a reload, the Runs panel lists both from the database.
        tools.get_by_label("Message for check").fill('{"amount": 12}')
        tools.get_by_role("button", name="Send", exact=True).click()
        expect(tools.get_by_test_id("answer")).to_have_attribute("data-outcome", "succeeded", timeout=60_000)
        page.reload()
        page.get_by_test_id("node-orders").wait_for()
        page.get_by_role("button", name="Runs", exact=True).click()
        runs = page.get_by_test_id("runs-panel")
        expect(runs.get_by_test_id("run")).to_have_count(2, timeout=15_000)
        assert [r.get_attribute("data-status") for r in runs.get_by_test_id("run").all()] == ["succeeded", "failed"]
        runs.get_by_role("button", name="failed", exact=True).click()
        expect(runs.get_by_test_id("run")).to_have_count(1)
        runs.get_by_test_id("run").click()
        trace = page.get_by_role("dialog", name="Trace")
        expect(trace).to_be_focused()  # keys go to it, not to the list behind it
        call = trace.get_by_test_id("trace-call")
        expect(call).to_contain_text("an order needs an amount")
        # The data of each step: what the failing call was given, open at once for a failure.
        expect(call.get_by_test_id("call-input")).to_contain_text('customer: "ada"')
        call.get_by_role("button", name="show traceback").click()
        expect(call.locator("pre.traceback")).to_contain_text("raise ValueError")
        page.screenshot(path=str(tmp_path / "runs.png"))
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":  # the README's picture of debugging a run
            page.screenshot(path=str(Path(__file__).resolve().parents[2] / "docs" / "images" / "runs.png"))
        # Escape closes the trace, whatever has the focus.
        runs.get_by_role("button", name="failed", exact=True).focus()
        page.keyboard.press("Escape")
        expect(trace).to_have_count(0)
        # A failed run is sent again from the list: its message was kept whole, so it can be; said at once.
        runs.get_by_test_id("run").get_by_role("button", name="replay").click()
        page.get_by_text("Replaying the run's message to check…").wait_for()
        page.get_by_text("Sent the run's message to check again").wait_for()
        runs.get_by_role("button", name="all", exact=True).click()
        expect(runs.get_by_test_id("run")).to_have_count(3, timeout=30_000)
        page.get_by_role("button", name="Close runs").click()

        # The palette offers the code already in use; a function dragged onto the canvas becomes a processor.
        page.get_by_role("button", name="Palette", exact=True).click()
        palette = page.get_by_test_id("palette")
        palette.get_by_test_id("palette-e2eorders").get_by_role("button").click()
        palette.get_by_test_id("palette-fn-check").drag_to(
            page.get_by_test_id("canvas"), target_position={"x": 700, "y": 500}
        )
        page.get_by_test_id("node-check").wait_for()
        page.get_by_test_id("socket-check.check").wait_for()
        expect(page.get_by_test_id("processor-panel").get_by_label("Module", exact=True)).to_have_value("e2eorders")
        assert "unsaved" in page.get_by_test_id("save-state").inner_text()

        # And the trusted list's repositories, which no processor uses yet: browsed module by module, each with the
        # subdirectory it imports from, so the processor made from it needs nothing filled in by hand.
        palette.get_by_test_id("trusted-library").get_by_role("button").first.click()
        modules = palette.get_by_test_id("palette-modules")
        modules.get_by_test_id("palette-shapes.area").get_by_role("button").click()
        modules.get_by_test_id("palette-fn-square").drag_to(
            page.get_by_test_id("canvas"), target_position={"x": 500, "y": 650}
        )
        page.get_by_test_id("node-square").wait_for()
        page.get_by_test_id("socket-square").wait_for()  # named by its function alone: no socket has the name
        # The palette never scrolls sideways, whatever it shows.
        assert palette.evaluate("(el) => el.scrollWidth <= el.clientWidth")
        panel = page.get_by_test_id("processor-panel")
        expect(panel.get_by_label("Module", exact=True)).to_have_value("shapes.area")
        expect(panel.get_by_label("Subdirectory", exact=True)).to_have_value("tools")
        expect(panel.get_by_label("Git repository", exact=True)).to_have_value(f"file://{library}")

        # The flows list says what each flow is doing: its processors' states and the messages of the last hour.
        page.once("dialog", lambda dialog: dialog.accept())  # leave without saving the palette's processor
        page.get_by_role("button", name="← Flows").click()
        row = page.get_by_test_id("flow-orders").get_by_test_id("flow-activity")
        expect(row).to_contain_text("1 running", timeout=20_000)
        expect(row).to_contain_text("calls/h")
        expect(row).to_contain_text("failed/h", timeout=20_000)  # the failed message and its failed replay
        # However much the row says, its buttons stay inside it and each figure on one line.
        flow_row = page.get_by_test_id("flow-orders")
        edge = flow_row.bounding_box()
        delete = flow_row.get_by_role("button", name="Delete").bounding_box()
        assert delete["x"] + delete["width"] <= edge["x"] + edge["width"], (delete, edge)
        failed = row.get_by_text("failed/h")
        assert failed.evaluate(
            "(el) => el.getBoundingClientRect().height < 1.6 * parseFloat(getComputedStyle(el).fontSize)"
        )
