"""A new user's path through the designer, in a real browser: log in, create a flow, add two processors from a
local git repository, connect them, save, reload, start, send a message, see the result and its trace. bob (view
only) cannot edit; charlie does not see the flow."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from backend.accounts.services import privilege_grant
from flows.models import Flow, Plug, Processor, Socket
from tests.e2e.conftest import login
from tests.factories import make_user
from tests.live import daphne
from tests.runtime.conftest import Runtime
from tests.runtime.gitrepos import make_repo, package_files

BASE_DIR = Path(__file__).resolve().parents[2]
SCREENSHOT = BASE_DIR / "docs" / "images" / "designer.png"

MODULE = '''
def greet(name):
    """Say hello to someone."""
    return f"hello {name}"


def shout(text, punctuation="!"):
    """Upper-case the text."""
    return text.upper() + punctuation


def _private():
    return None
'''

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def user(name: str, *rights: str) -> Any:
    person = make_user(name, *rights)
    person.set_password(f"pw-{name}-e2e")
    person.save()
    return person


def add_processor(page: Any, name: str, repo: str, function: str) -> None:
    page.get_by_role("button", name="+ Processor").click()
    panel = page.get_by_test_id("processor-panel")
    for label, value in (("Name", name), ("Git repository", repo), ("Module", "e2emod")):
        field = panel.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Enter")
    panel.get_by_role("button", name="Discover functions").click()
    # Discovery reads the module at the commit `main` resolves to, and lists only public functions.
    panel.get_by_test_id(f"function-{function}").wait_for()
    assert panel.get_by_test_id("function-_private").count() == 0
    panel.get_by_label(f"Socket for {function}").check()
    page.get_by_test_id(f"socket-{name}.{function}").wait_for()


def settle(page: Any) -> None:
    """Wait until the canvas stops moving (fit and layout animate the viewport)."""
    viewport = page.locator(".react-flow__viewport")
    last = None
    for _ in range(50):
        now = viewport.get_attribute("style")
        if now == last:
            return
        last = now
        page.wait_for_timeout(200)


def drag(page: Any, source: Any, target: Any) -> None:
    settle(page)
    source.wait_for()
    target.wait_for()
    a = source.bounding_box()
    b = target.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=12)
    page.mouse.up()


def test_a_new_user_designs_runs_and_traces_a_flow(runtime: Runtime, new_page: Any, tmp_path: Path) -> None:
    repo = tmp_path / "e2erepo"
    make_repo(repo, package_files("e2emod", MODULE))
    alice = user("alice", "CREATE")
    bob = user("bob")
    user("charlie")
    runtime.start_agent()

    with daphne(**{k: v for k, v in runtime.env().items() if k.startswith("ELASTICCODE_")}) as url:
        page = new_page()
        login(page, url, "alice", "pw-alice-e2e")
        page.get_by_text("No flows yet").wait_for()

        page.get_by_label("New flow name").fill("greetings")
        page.get_by_role("button", name="Create flow").click()
        page.wait_for_url(re.compile(r"/flows/[0-9a-f-]{36}/$"))
        page.get_by_text("An empty flow").wait_for()

        add_processor(page, "greeter", f"file://{repo}", "greet")
        page.keyboard.press("Escape")
        add_processor(page, "shouter", f"file://{repo}", "shout")
        page.keyboard.press("Escape")

        # Output onto output is refused; result of greet onto the input of shout makes the plug.
        drag(
            page,
            page.locator('[data-testid="socket-greeter.greet"] .handle-result'),
            page.locator('[data-testid="socket-shouter.shout"] .handle-in'),
        )
        expect(page.locator(".react-flow__edge")).to_have_count(1)
        drag(
            page,
            page.locator('[data-testid="socket-greeter.greet"] .handle-result'),
            page.locator('[data-testid="socket-shouter.shout"] .handle-in'),
        )
        page.get_by_text("already have a result plug").wait_for()
        expect(page.locator(".react-flow__edge")).to_have_count(1)

        page.get_by_role("button", name="Layout").click()
        expect(page.get_by_role("button", name="Layout")).to_be_enabled()
        assert "unsaved" in page.get_by_test_id("save-state").inner_text()
        page.keyboard.press("Control+s")
        page.get_by_test_id("save-state").filter(has_text="saved · v").wait_for()

        flow = Flow.objects.get(name="greetings")
        assert sorted(Processor.objects.filter(flow=flow).values_list("name", flat=True)) == ["greeter", "shouter"]
        plug = Plug.objects.get(flow=flow)
        assert (plug.source.name, plug.target.name, plug.kind) == ("greeter.greet", "shouter.shout", "result")

        page.reload()
        page.get_by_test_id("node-greeter").wait_for()
        page.get_by_test_id("node-shouter").wait_for()
        expect(page.locator(".react-flow__edge")).to_have_count(1)
        assert "saved" in page.get_by_test_id("save-state").inner_text()

        page.get_by_role("button", name="Start all", exact=True).click()
        for name in ("greeter", "shouter"):
            expect(page.get_by_test_id(f"node-{name}").get_by_test_id("status-badge")).to_have_text(
                "running", timeout=180_000
            )

        page.get_by_test_id("node-greeter").click()
        tools = page.get_by_test_id("tools-greeter.greet")
        tools.get_by_label("Message for greeter.greet").fill('"world"')
        tools.get_by_role("button", name="Send", exact=True).click()
        result = tools.get_by_test_id("answer-result")
        result.wait_for(state="attached", timeout=60_000)
        assert result.text_content() == '["HELLO WORLD!"]'
        assert tools.get_by_test_id("answer").get_attribute("data-outcome") == "succeeded"
        assert '"HELLO WORLD!"' in tools.get_by_test_id("answer-tree").inner_text()

        panel = page.get_by_test_id("processor-panel")
        panel.get_by_role("button", name="Discover functions").click()
        panel.get_by_test_id("code-commit").filter(has_text="(pinned)").wait_for()
        panel.get_by_test_id("function-greet").get_by_role("button", name="view code").click()
        assert 'return f"hello {name}"' in panel.get_by_test_id("code-view").inner_text()

        page.get_by_role("button", name="Fit", exact=True).click()
        settle(page)
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        page.screenshot(path=str(tmp_path / "designer.png"))

        tools.get_by_role("button", name="Open trace").click()
        trace = page.get_by_role("dialog", name="Trace")
        trace.get_by_test_id("trace-call").nth(1).wait_for(timeout=30_000)
        calls = trace.get_by_test_id("trace-call")
        assert calls.count() == 2
        assert "greeter.greet" in calls.nth(0).inner_text() and "shouter.shout" in calls.nth(1).inner_text()
        assert "succeeded" in trace.inner_text()
        trace.get_by_role("button", name="Close trace").click()

        # bob may view the flow, not change it.
        privilege_grant(right="VIEW_FLOW", user=bob, obj=flow, granted_by=alice)
        bob_page = new_page()
        login(bob_page, url, "bob", "pw-bob-e2e")
        bob_page.get_by_test_id("flow-greetings").get_by_text("view only").wait_for()
        assert bob_page.get_by_test_id("flow-greetings").get_by_role("button", name="Rename").is_disabled()
        bob_page.get_by_role("link", name="greetings").click()
        bob_page.get_by_test_id("readonly-banner").wait_for()
        bob_page.get_by_test_id("node-greeter").wait_for()
        assert bob_page.get_by_role("button", name="Save").count() == 0
        assert bob_page.get_by_role("button", name="+ Processor").count() == 0
        bob_page.get_by_test_id("node-greeter").click()
        assert bob_page.get_by_test_id("processor-panel").get_by_label("Name", exact=True).is_disabled()
        before = Flow.objects.get(pk=flow.pk).version
        bob_page.keyboard.press("Escape")
        bob_page.get_by_test_id("node-shouter").click()
        bob_page.keyboard.press("Delete")
        assert bob_page.get_by_test_id("node-shouter").count() == 1
        assert Flow.objects.get(pk=flow.pk).version == before

        # charlie sees no flows, and the flow's address tells him nothing about it.
        charlie_page = new_page()
        login(charlie_page, url, "charlie", "pw-charlie-e2e")
        charlie_page.get_by_text("No flows yet").wait_for()
        charlie_page.goto(f"{url}/flows/{flow.pk}/")
        charlie_page.get_by_text("does not exist or you may not see it").wait_for()
        assert charlie_page.get_by_test_id("node-greeter").count() == 0
    assert Socket.objects.filter(flow=flow).count() == 2
