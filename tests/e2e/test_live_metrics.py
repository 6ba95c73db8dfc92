"""Live metrics in a real browser: while messages flow, the canvas shows a non-zero rate on the processor and the
queue depth on the plug; the dashboard draws its throughput chart; charlie's dashboard shows none of it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from flows.runtime import broker
from flows.runtime.envelope import new_envelope
from tests.e2e.conftest import login
from tests.e2e.test_designer import user
from tests.factories import PlugFactory, ProcessorFactory, SocketFactory, make_flow
from tests.live import daphne
from tests.runtime.conftest import Runtime, start
from tests.runtime.gitrepos import make_repo, package_files

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
MODULE = "import time\n\ndef relay(n):\n    return n\n\ndef slow(n):\n    time.sleep(0.02)\n    return n\n"

# Whether the chart's canvas has any drawn (non-transparent) pixel.
DRAWN = """(testid) => {
  const canvas = document.querySelector(`[data-testid="${testid}"] canvas`);
  if (!canvas || !canvas.width || !canvas.height) return false;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
  return false;
}"""


def rate(page: Any, processor_id: str) -> float:
    text = page.get_by_test_id(f"rate-in-{processor_id}").inner_text().strip()
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def test_the_canvas_and_dashboard_show_messages_moving(runtime: Runtime, new_page: Any, tmp_path: Path) -> None:
    repo = tmp_path / "liverepo"
    make_repo(repo, package_files("e2elive", MODULE))
    alice = user("alice", "CREATE")
    user("charlie")
    flow = make_flow(alice, "zebraflow")
    p1 = ProcessorFactory(flow=flow, name="zfast", git_url=f"file://{repo}", module="e2elive", retries=0)
    p2 = ProcessorFactory(flow=flow, name="zslowpoke", git_url=f"file://{repo}", module="e2elive", retries=0)
    s1 = SocketFactory(processor=p1, name="zebraflow.zfast.relay", function="relay")
    s2 = SocketFactory(processor=p2, name="zebraflow.zslowpoke.slow", function="slow", max_queue_length=100)
    plug = PlugFactory(source=s1, target=s2, name="fast-to-slow")
    start(p1, p2)
    runtime.start_agent()
    runtime.wait_status(p1, "running", timeout=180)
    runtime.wait_status(p2, "running", timeout=180)

    sending = threading.Event()

    def send() -> None:
        n = 0
        while not sending.is_set():
            # 100 msgs/s into `zfast`; `zslowpoke` manages 50: its queue fills up to its bound of 100.
            broker.publish([(str(s1.queue_id), new_envelope(flow_id=str(flow.pk), socket_id=str(s1.pk), payload=n))])
            n += 1
            time.sleep(0.01)

    sender = threading.Thread(target=send, daemon=True)
    with daphne(**{k: v for k, v in runtime.env().items() if k.startswith("ELASTICCODE_")}) as url:
        sender.start()
        try:
            page = new_page()
            login(page, url, "alice", "pw-alice-e2e")
            page.goto(f"{url}/flows/{flow.pk}/")
            page.get_by_test_id("node-zfast").wait_for()
            deadline = time.monotonic() + 30
            while rate(page, str(p1.pk)) <= 0 and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            assert rate(page, str(p1.pk)) > 0, "the canvas never showed a rate for the running processor"
            depth = page.get_by_test_id(f"plug-depth-{plug.pk}")
            depth.wait_for()
            deadline = time.monotonic() + 30
            while int(depth.inner_text().strip() or 0) <= 0 and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            assert int(depth.inner_text().strip()) > 0
            assert depth.get_attribute("data-level") in {"ok", "warn", "full"}  # coloured against the bound

            page.get_by_test_id("nav-dashboard").click()
            page.get_by_test_id("dashboard-chart").wait_for()
            page.wait_for_function(DRAWN, arg="dashboard-chart", timeout=30_000)
            page.get_by_test_id("dashboard-workers").get_by_text("zfast", exact=False).first.wait_for()
            page.screenshot(path=str(tmp_path / "dashboard.png"))

            # charlie's dashboard has no flow, worker or queue of alice's.
            other = new_page()
            login(other, url, "charlie", "pw-charlie-e2e")
            other.goto(f"{url}/dashboard/")
            other.get_by_test_id("dashboard").wait_for()
            other.wait_for_timeout(2500)  # a few cluster frames
            text = other.get_by_test_id("dashboard").inner_text()
            for name in ("zebraflow", "zfast", "zslowpoke"):
                assert name not in text
        finally:
            sending.set()
            sender.join(5)
