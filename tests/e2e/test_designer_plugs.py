"""The demo flow as a newcomer opens it (issue 16): every plug is a visible line, plugs between sockets of one
processor included; sockets keep the order the flow gives them; a plug that can never be is refused as it is drawn,
naming the socket; a plug that closes a loop is allowed and marked, and stays marked after saving and reloading."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from flows.models import Flow, Plug
from flows.services.demo import demo_install, demo_repository
from tests.e2e.conftest import login
from tests.e2e.test_designer import drag, settle, user
from tests.live import daphne

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# Each edge's path: its length (flow units), and whether its middle point lies inside any card (screen pixels).
EDGE_GEOMETRY = """() => {
  const cards = [...document.querySelectorAll('.react-flow__node')].map((n) => n.getBoundingClientRect());
  return [...document.querySelectorAll('.react-flow__edge')].map((edge) => {
    const path = edge.querySelector('path.react-flow__edge-path');
    const length = path.getTotalLength();
    const mid = path.getPointAtLength(length / 2);
    const m = path.getScreenCTM();
    const x = m.a * mid.x + m.c * mid.y + m.e;
    const y = m.b * mid.x + m.d * mid.y + m.f;
    const under = cards.some((c) => x > c.left && x < c.right && y > c.top && y < c.bottom);
    return { id: edge.getAttribute('data-id'), length, under };
  });
}"""


# Each edge's box in flow units (its aria-label names it), and whether every edge and card lies inside the canvas
# on screen, clear of the Map/Grid switches over its top right corner.
EDGE_BOXES = """() => Object.fromEntries([...document.querySelectorAll('.react-flow__edge')].map((edge) => {
  const box = edge.querySelector('path.react-flow__edge-path').getBBox();
  return [edge.getAttribute('aria-label'), { right: box.x + box.width, bottom: box.y + box.height, left: box.x }];
}))"""
ALL_IN_VIEW = """() => {
  const canvas = document.querySelector('[data-testid=canvas]').getBoundingClientRect();
  const switches = document.querySelector('.canvas-toggles').getBoundingClientRect();
  const inside = (r) => r.left >= canvas.left && r.right <= canvas.right && r.top >= canvas.top && r.bottom <= canvas.bottom;
  const overlaps = (r) => r.left < switches.right && switches.left < r.right && r.top < switches.bottom && switches.top < r.bottom;
  const edges = [...document.querySelectorAll('.react-flow__edge path.react-flow__edge-path')].map((p) => p.getBoundingClientRect());
  const cards = [...document.querySelectorAll('.react-flow__node')].map((n) => n.getBoundingClientRect());
  return { outside: [...edges, ...cards].filter((r) => !inside(r)).length, underSwitches: cards.filter(overlaps).length };
}"""


def sockets_of(page: Any, processor: str) -> list[str]:
    return [
        name.removeprefix("socket-")
        for name in page.get_by_test_id(f"node-{processor}")
        .locator('.socket-row[data-testid^="socket-"]')
        .evaluate_all("(rows) => rows.map((r) => r.getAttribute('data-testid'))")
    ]


def test_the_demo_flow_shows_every_plug_and_draws_by_the_rules(
    transactional_db: Any, new_page: Any, tmp_path: Path
) -> None:
    alice = user("alice", "CREATE")
    flow = demo_install(user=alice, repo_url=demo_repository(tmp_path / "demo"), start=False)
    with daphne() as url:
        page = new_page()
        login(page, url, "alice", "pw-alice-e2e")
        page.goto(f"{url}/flows/{flow.pk}/")
        page.get_by_test_id("node-words").wait_for()
        expect(page.locator(".react-flow__edge")).to_have_count(4)
        settle(page)

        # Every plug of the demo runs between two sockets of one processor: each is drawn round its card.
        for edge in page.evaluate(EDGE_GEOMETRY):
            assert edge["length"] > 40 and not edge["under"], edge
        assert sockets_of(page, "words") == ["split", "count", "aggregate"]
        # Two plugs going round words side by side (split → count, count → aggregate) run clearly apart.
        boxes = page.evaluate(EDGE_BOXES)
        split_count = next(box for label, box in boxes.items() if label.endswith(": split → count"))
        count_aggregate = next(box for label, box in boxes.items() if label.endswith(": count → aggregate"))
        for side in ("right", "bottom", "left"):
            assert abs(split_count[side] - count_aggregate[side]) >= 24, (side, split_count, count_aggregate)

        # A plug from a socket to itself can never be: refused as it is drawn, saying which socket.
        drag(
            page,
            page.locator('[data-testid="socket-do_this"] .handle-result'),
            page.locator('[data-testid="socket-do_this"] .handle-in'),
        )
        page.get_by_role("alert").filter(has_text="A plug from do_this to do_this itself").wait_for()
        expect(page.locator(".react-flow__edge")).to_have_count(4)
        page.keyboard.press("Escape")  # the drag's click opened greeter's panel, which covers words

        # aggregate back into split closes a loop: allowed, said once, and the loop's three plugs are marked.
        drag(
            page,
            page.locator('[data-testid="socket-aggregate"] .handle-result'),
            page.locator('[data-testid="socket-split"] .handle-in'),
        )
        page.get_by_text(re.compile(r"closes a loop \(aggregate → split → count → aggregate\)")).wait_for()
        expect(page.locator(".react-flow__edge")).to_have_count(5)
        expect(page.locator('[data-testid^="plug-loop-"]')).to_have_count(3)
        # Read out by its sockets' names, as the saved plugs are.
        expect(
            page.locator('.react-flow__edge[aria-label="result plug aggregate-to-split: aggregate → split"]')
        ).to_have_count(1)
        settle(page)
        for edge in page.evaluate(EDGE_GEOMETRY):
            assert edge["length"] > 40 and not edge["under"], edge

        page.keyboard.press("Control+s")
        page.get_by_test_id("save-state").filter(has_text="saved · v").wait_for()
        assert Plug.objects.filter(flow=flow).count() == 5
        page.reload()
        page.get_by_test_id("node-words").wait_for()
        expect(page.locator('[data-testid^="plug-loop-"]')).to_have_count(3)
        assert sockets_of(page, "words") == ["split", "count", "aggregate"]
        assert Flow.objects.get(pk=flow.pk).version > 1

        # A layout shows the whole flow, loops and plugs going round cards included; so does undoing it, with no
        # card under the Map/Grid switches.
        page.get_by_role("button", name="Layout").click()
        expect(page.get_by_role("button", name="Layout")).to_be_enabled()
        settle(page)
        assert page.evaluate(ALL_IN_VIEW) == {"outside": 0, "underSwitches": 0}
        page.get_by_role("button", name="Undo", exact=True).click()
        settle(page)
        assert page.evaluate(ALL_IN_VIEW) == {"outside": 0, "underSwitches": 0}
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Fit", exact=True).click()
        settle(page)
        page.screenshot(path=str(tmp_path / "demo.png"))
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":  # the README's picture of the demo flow
            page.screenshot(path=str(Path(__file__).resolve().parents[2] / "docs" / "images" / "demo-flow.png"))
