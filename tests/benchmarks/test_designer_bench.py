"""Benchmark: the designer with a 500-processor, 1,000-plug flow in headless Chromium (make bench; figures go to
docs/benchmarks.md).

Time to interactive: from navigation start until every node is measured and shown, every plug is drawn, the
loading state is gone and one more frame has been painted (performance.now() in the page). Panning: frames per second counted with
requestAnimationFrame while the view is dragged across (from an empty spot, as a person pans) at the fitted zoom,
where every node is on screen, as the flow opens (a flow of more than 150 processors opens without the minimap and
the dotted grid) and again with both switched on. The baseline in the same run is a 10-processor flow, so the ratio says what the
size of the flow costs on this (noisy, two-core) machine. Targets: <= 2 s to interactive, >= 30 fps.
"""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from flows.models import Flow, Plug, Processor
from tests.e2e.conftest import browser, login, new_page  # noqa: F401  (fixtures)
from tests.factories import bulk_processors, make_flow, make_user
from tests.live import daphne

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

ROUNDS = 3
COLUMNS = 25


def populate(flow: Flow, processors: int) -> None:
    """`processors` processors with two sockets each and two plugs leaving each processor (2 x processors plugs)."""
    procs, sockets = bulk_processors(
        flow, processors, ("split", "count"), git_url="file:///srv/repos/sample.git", module="sample.functions"
    )
    n = processors
    Plug.objects.bulk_create(
        [Plug(flow=flow, name=f"a{i}", source=sockets[2 * i], target=sockets[2 * ((i + 1) % n) + 1]) for i in range(n)]
        + [
            Plug(flow=flow, name=f"b{i}", source=sockets[2 * i + 1], target=sockets[2 * ((i + 7) % n)])
            for i in range(n)
        ]
    )
    flow.layout = {
        "processors": {str(p.pk): {"x": 320 * (i % COLUMNS), "y": 220 * (i // COLUMNS)} for i, p in enumerate(procs)}
    }
    flow.save(update_fields=["layout"])


# Ready means every node measured and shown (the canvas hides a node until it knows its size) and every plug drawn.
INTERACTIVE = """([nodes, edges]) => new Promise((resolve) => {
  const check = () => {
    const shown = [...document.querySelectorAll('.react-flow__node')].filter((n) => n.style.visibility !== 'hidden');
    const ready = shown.length >= nodes && document.querySelectorAll('.react-flow__edge').length >= edges
      && !document.querySelector('.loading');
    if (ready) requestAnimationFrame(() => resolve(performance.now()));
    else requestAnimationFrame(check);
  };
  check();
})"""

COUNT_FRAMES = """() => { window.__frames = 0; if (window.__counting) return; window.__counting = true;
const tick = () => { window.__frames++; requestAnimationFrame(tick); }; requestAnimationFrame(tick); }"""


def pan_fps(page: Any) -> float:
    """Frames per second over about three seconds of a steady drag of the view, back and forth."""
    box = page.get_by_test_id("canvas").bounding_box()
    # Start on empty canvas (the fit leaves a margin), so the drag pans the view instead of moving a node.
    cx, cy = box["x"] + 12, box["y"] + 12
    viewport = page.locator(".react-flow__viewport")
    before = viewport.get_attribute("style")
    page.evaluate(COUNT_FRAMES)
    page.mouse.move(cx, cy)
    page.mouse.down()
    start = page.evaluate("() => [performance.now(), window.__frames]")
    for i in range(120):
        dx = 200 * ((i % 40) / 40 if (i // 40) % 2 == 0 else 1 - (i % 40) / 40)
        page.mouse.move(cx + dx, cy + dx / 2)
        page.wait_for_timeout(16)
    end = page.evaluate("() => [performance.now(), window.__frames]")
    moved = viewport.get_attribute("style") != before
    page.mouse.up()
    assert moved, "the view did not pan"
    return float((end[1] - start[1]) / ((end[0] - start[0]) / 1000))


def measure(page: Any, url: str, flow: Flow) -> tuple[float, float, int, float]:
    """Time to interactive, panning fps as the flow opens, nodes drawn, panning fps with the map and grid on."""
    processors = Processor.objects.filter(flow=flow).count()
    page.goto(f"{url}/flows/{flow.pk}/")
    interactive_ms = float(page.evaluate(INTERACTIVE, [processors, 2 * processors]))
    page.wait_for_timeout(800)  # the initial fit
    rendered = page.locator(".react-flow__node").count()
    fps = pan_fps(page)
    for toggle in ("Map", "Grid"):
        page.locator(".canvas-toggles").get_by_label(toggle).check()
    page.wait_for_timeout(500)
    return interactive_ms, fps, rendered, pan_fps(page)


def test_designer_with_500_processors_and_1000_plugs(new_page: Any) -> None:  # noqa: F811
    alice = make_user("alice", "CREATE")
    alice.set_password("pw-bench")
    alice.save()
    small = make_flow(alice, "small")
    populate(small, 10)
    big = make_flow(alice, "big")
    populate(big, 500)
    assert Plug.objects.filter(flow=big).count() == 1000

    with daphne() as url:
        page = new_page()
        login(page, url, "alice", "pw-bench")
        results: dict[str, list[tuple[float, float, int, float]]] = {"small": [], "big": []}
        for _ in range(ROUNDS):  # alternate, so drift of the machine hits both alike
            for name, flow in (("small", small), ("big", big)):
                results[name].append(measure(page, url, flow))

    def med(name: str, i: int) -> float:
        return statistics.median(r[i] for r in results[name])

    print(f"\nDesigner benchmark ({ROUNDS} rounds, medians; Chromium headless):")
    for name, label in (("small", "10 processors / 20 plugs"), ("big", "500 processors / 1,000 plugs")):
        print(
            f"  {label:30s} interactive {med(name, 0):7.0f} ms   panning {med(name, 1):5.1f} fps "
            f"(map and grid on: {med(name, 3):5.1f} fps)   nodes drawn {int(med(name, 2))}   "
            f"rounds {[(round(r[0]), round(r[1], 1)) for r in results[name]]}"
        )
    print(
        f"  ratio big/small: interactive {med('big', 0) / med('small', 0):.2f}x, "
        f"fps {med('big', 1) / med('small', 1):.2f}x"
    )
    assert med("big", 2) > 0
