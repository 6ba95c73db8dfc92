"""Benchmark: the designer with a 500-processor, 1,000-plug flow in headless Chromium (make bench; figures go to
docs/benchmarks.md).

Time to interactive: from navigation start until the canvas shows the flow's nodes with the loading state gone and
one more frame has been painted (performance.now() in the page). Panning: frames per second counted with
requestAnimationFrame while the view is dragged (Space + drag, as a person pans over nodes) at the fitted zoom,
where every node is on screen. The baseline in the same run is a 10-processor flow, so the ratio says what the
size of the flow costs on this (noisy, two-core) machine. Targets: <= 2 s to interactive, >= 30 fps.
"""

from __future__ import annotations

import statistics
import uuid
from typing import Any

import pytest

from flows.models import Flow, Plug, Processor, Queue, Socket
from tests.e2e.conftest import browser, login, new_page  # noqa: F401  (fixtures)
from tests.factories import make_flow, make_user
from tests.live import daphne

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

ROUNDS = 3
COLUMNS = 25


def populate(flow: Flow, processors: int) -> None:
    """`processors` processors with two sockets each and two plugs leaving each processor (2 x processors plugs)."""
    procs = [
        Processor(flow=flow, name=f"p{i}", git_url="file:///srv/repos/sample.git", module="sample.functions")
        for i in range(processors)
    ]
    Processor.objects.bulk_create(procs)
    queues, sockets = [], []
    for proc in procs:
        for function in ("split", "count"):
            socket_id = uuid.uuid4()
            queues.append(Queue(name=f"q.{socket_id}"))
            sockets.append(
                Socket(
                    id=socket_id,
                    flow=flow,
                    processor=proc,
                    name=f"{proc.name}.{function}",
                    function=function,
                    queue=queues[-1],
                )
            )
    Queue.objects.bulk_create(queues)
    Socket.objects.bulk_create(sockets)
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


INTERACTIVE = """() => new Promise((resolve) => {
  const check = () => {
    const ready = document.querySelectorAll('.react-flow__node').length > 0 && !document.querySelector('.loading');
    if (ready) requestAnimationFrame(() => resolve(performance.now()));
    else requestAnimationFrame(check);
  };
  check();
})"""

COUNT_FRAMES = """() => { window.__frames = 0; const tick = () => { window.__frames++; requestAnimationFrame(tick); };
requestAnimationFrame(tick); }"""


def measure(page: Any, url: str, flow: Flow) -> tuple[float, float, int]:
    page.goto(f"{url}/flows/{flow.pk}/")
    interactive_ms = float(page.evaluate(INTERACTIVE))
    page.wait_for_timeout(800)  # the initial fit
    rendered = page.locator(".react-flow__node").count()
    box = page.get_by_test_id("canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate(COUNT_FRAMES)
    page.keyboard.down("Space")
    page.mouse.move(cx, cy)
    page.mouse.down()
    start = page.evaluate("() => [performance.now(), window.__frames]")
    for i in range(120):  # about three seconds of a steady drag, back and forth
        dx = 200 * ((i % 40) / 40 if (i // 40) % 2 == 0 else 1 - (i % 40) / 40)
        page.mouse.move(cx - 100 + dx, cy - 50 + dx / 2)
        page.wait_for_timeout(16)
    end = page.evaluate("() => [performance.now(), window.__frames]")
    page.mouse.up()
    page.keyboard.up("Space")
    fps = (end[1] - start[1]) / ((end[0] - start[0]) / 1000)
    return interactive_ms, fps, rendered


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
        results: dict[str, list[tuple[float, float, int]]] = {"small": [], "big": []}
        for _ in range(ROUNDS):  # alternate, so drift of the machine hits both alike
            for name, flow in (("small", small), ("big", big)):
                results[name].append(measure(page, url, flow))

    def med(name: str, i: int) -> float:
        return statistics.median(r[i] for r in results[name])

    print(f"\nDesigner benchmark ({ROUNDS} rounds, medians; Chromium headless):")
    for name, label in (("small", "10 processors / 20 plugs"), ("big", "500 processors / 1,000 plugs")):
        print(
            f"  {label:30s} interactive {med(name, 0):7.0f} ms   panning {med(name, 1):5.1f} fps   "
            f"nodes drawn {int(med(name, 2))}   rounds {[(round(r[0]), round(r[1], 1)) for r in results[name]]}"
        )
    print(
        f"  ratio big/small: interactive {med('big', 0) / med('small', 0):.2f}x, "
        f"fps {med('big', 1) / med('small', 1):.2f}x"
    )
    assert med("big", 2) > 0
