"""Two people on one flow (issue 16): each sees that the other has it open; a save by one reaches the other at once:
a tab with no unsaved changes shows the new version by itself, one with changes is told and keeps them, and its
save merges the two."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from backend.accounts.services import privilege_grant
from flows.models import Flow
from flows.services.demo import demo_install, demo_repository
from tests.e2e.conftest import login
from tests.e2e.test_designer import settle, user
from tests.live import daphne

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def nudge(page: Any, name: str) -> None:
    """Move a card a little with the mouse: an unsaved change."""
    settle(page)
    box = page.get_by_test_id(f"node-{name}").locator("header").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + 60, steps=8)
    page.mouse.up()


# Where each toolbar button and the search box are, and whether the save state and the search's hint read whole.
TOOLBAR = """() => {
  const bar = document.querySelector('[role=toolbar]');
  const buttons = [...bar.querySelectorAll('button')].map((b) => {
    const r = b.getBoundingClientRect();
    return { name: b.getAttribute('aria-label') || b.textContent, left: r.left, top: r.top, right: r.right, bottom: r.bottom };
  });
  const state = bar.querySelector('[data-testid=save-state]');
  const search = bar.querySelector('input[type=search]');
  const style = getComputedStyle(search);
  const pen = document.createElement('canvas').getContext('2d');
  pen.font = style.font;
  const room = search.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {
    buttons,
    state: { text: state.textContent, scroll: state.scrollWidth, client: state.clientWidth },
    hint: { text: search.placeholder, width: pen.measureText(search.placeholder).width, room },
  };
}"""


def assert_toolbar_fits(page: Any) -> None:
    """At 1440x900 every toolbar button is on screen and the labels read whole (found by a newcomer: with someone
    else here, Runs and ? were off-screen, "unsaved changes" was cut behind Save and the search hint cut short)."""
    assert page.viewport_size == {"width": 1440, "height": 900}
    bar = page.evaluate(TOOLBAR)
    assert len(bar["buttons"]) >= 10
    for button in bar["buttons"]:
        assert button["left"] >= 0 and button["right"] <= 1440, button
        assert button["top"] >= 0 and button["bottom"] <= 900, button
    assert bar["state"]["scroll"] <= bar["state"]["client"], bar["state"]
    assert bar["hint"]["width"] <= bar["hint"]["room"], bar["hint"]


def test_presence_and_a_save_reach_the_other_editor(transactional_db: Any, new_page: Any, tmp_path: Path) -> None:
    alice = user("alice", "CREATE")
    bob = user("bob")
    flow = demo_install(user=alice, repo_url=demo_repository(tmp_path / "demo"), start=False)
    for right in ("VIEW_FLOW", "EDIT_FLOW"):
        privilege_grant(right=right, user=bob, obj=flow, granted_by=alice)
    with daphne() as url:
        mine = new_page()
        login(mine, url, "alice", "pw-alice-e2e")
        mine.goto(f"{url}/flows/{flow.pk}/")
        mine.get_by_test_id("node-words").wait_for()
        expect(mine.get_by_test_id("presence")).to_have_count(0)

        theirs = new_page()
        login(theirs, url, "bob", "pw-bob-e2e")
        theirs.goto(f"{url}/flows/{flow.pk}/")
        theirs.get_by_test_id("node-words").wait_for()
        expect(mine.get_by_test_id("presence")).to_contain_text("bob")
        expect(theirs.get_by_test_id("presence")).to_contain_text("alice")
        assert_toolbar_fits(mine)
        assert_toolbar_fits(theirs)

        # bob saves; alice has changed nothing, so her canvas shows his version at once.
        version = Flow.objects.get(pk=flow.pk).version
        nudge(theirs, "words")
        theirs.keyboard.press("Control+s")
        theirs.get_by_test_id("save-state").filter(has_text=f"saved · v{version + 1}").wait_for()
        mine.get_by_text(f"bob saved this flow (version {version + 1}); you now see their version.").wait_for()
        expect(mine.get_by_test_id("save-state")).to_contain_text(f"saved · v{version + 1}")
        expect(theirs.get_by_test_id("remote-banner")).to_have_count(0)  # his own save is not news to him

        # alice moves a card (unsaved) and bob saves again: she is told, and her change stays.
        nudge(mine, "greeter")
        expect(mine.get_by_test_id("save-state")).to_contain_text("unsaved")
        # Unsaved, with bob and a second tab of hers here too: still all on screen.
        second = new_page()
        login(second, url, "alice", "pw-alice-e2e")
        second.goto(f"{url}/flows/{flow.pk}/")
        expect(mine.get_by_test_id("presence")).to_contain_text("alice (another tab)")
        assert_toolbar_fits(mine)
        second.close()
        expect(mine.get_by_test_id("presence")).not_to_contain_text("alice (another tab)", timeout=10_000)
        nudge(theirs, "words")
        theirs.keyboard.press("Control+s")
        theirs.get_by_test_id("save-state").filter(has_text=f"saved · v{version + 2}").wait_for()
        expect(mine.get_by_test_id("remote-banner")).to_contain_text(f"bob saved this flow (version {version + 2})")
        expect(mine.get_by_test_id("save-state")).to_contain_text("unsaved")

        # Her save merges: his move of words and hers of greeter both stay.
        words_moved = Flow.objects.get(pk=flow.pk).layout["processors"][str(flow.processors.get(name="words").pk)]
        mine.keyboard.press("Control+s")
        mine.get_by_test_id("save-state").filter(has_text=f"saved · v{version + 3}").wait_for()
        expect(mine.get_by_test_id("remote-banner")).to_have_count(0)
        layout = Flow.objects.get(pk=flow.pk).layout["processors"]
        assert layout[str(flow.processors.get(name="words").pk)] == words_moved
        assert layout[str(flow.processors.get(name="greeter").pk)] != {"x": 0, "y": 0}

        theirs.close()
        expect(mine.get_by_test_id("presence")).to_have_count(0, timeout=10_000)
