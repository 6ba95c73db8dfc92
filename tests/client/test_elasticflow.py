# ruff: noqa: F811  (pytest fixtures imported from other conftests are parameters here)
"""ElasticFlow's parts (seeds/002) through the command line, the SDK and the API against a live server and real
workers: a map run over a text file with a receipt per parcel, a parcel forced to fail then retried exactly
(`ec task map`, `ec task retry`), and taps on a plug and a socket (`ec tap`), sampled, rate-limited, bounded."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from flows.client import ApiError, Client, Socket, tap
from flows.models import Flow, Plug
from flows.runtime import broker, keys
from tests.client.conftest import EC, Ec
from tests.client.test_cli import ok
from tests.factories import PlugFactory, ProcessorFactory, SocketFactory, make_flow
from tests.runtime.conftest import BASE_DIR, Runtime, code_dir, runtime, start  # noqa: F401  (shared fixtures)
from tests.runtime.gitrepos import make_repo, package_files
from tests.runtime.test_flow_runs import client_for

pytestmark = pytest.mark.runtime

WORDS = """
import os, re
from collections import Counter

def count(line):
    if "boom" in line and not os.path.exists("boomed"):
        open("boomed", "w").close()
        raise RuntimeError(f"forced failure on {line!r}")
    return dict(Counter(w.lower() for w in re.findall(r"[\\w']+", line)))

def relay(x):
    return x
"""
TEXT = "first whole first\nthe whole boom\n\nfirst and whole\nwhole whole first\n"


def expected(text: str) -> dict[str, int]:
    return dict(Counter(w.lower() for line in text.splitlines() for w in re.findall(r"[\w']+", line)))


@pytest.fixture
def words(runtime: Runtime, alice: Any, tmp_path: Path) -> Flow:
    repo = tmp_path / "words"
    make_repo(repo, package_files("ecwords", WORDS))
    flow = make_flow(alice, "wc")
    proc = ProcessorFactory(flow=flow, name="words", git_url=f"file://{repo}", module="ecwords", retries=0)
    SocketFactory(processor=proc, name="count", function="count")
    first = SocketFactory(processor=proc, name="first", function="relay")
    second = SocketFactory(processor=proc, name="second", function="relay")
    PlugFactory(source=first, target=second, name="first-second")
    start(proc)
    runtime.start_agent()
    runtime.wait_status(proc, "running")
    return flow


def test_a_map_run_keeps_a_receipt_per_parcel_and_retries_exactly_the_failed(
    words: Flow, ec: Ec, alice: Any, charlie: Any, tmp_path: Path, runtime: Runtime
) -> None:
    text = tmp_path / "words.txt"
    text.write_text(TEXT)
    sent = ec("task", "map", "-s", "count", "--file", str(text), "--flow", "wc")
    assert sent.returncode == 1, sent.stderr
    assert "4 parcel(s) to count: 3 reached aggregation, 1 failed, 0 pending" in sent.stdout
    assert "parcel 1 (sent 1x) failed: RuntimeError: forced failure on 'the whole boom'" in sent.stdout
    without = expected(TEXT.replace("the whole boom", ""))
    assert f"aggregate: {json.dumps(without)}" in sent.stdout
    run_id = re.search(r"map run ([0-9a-f-]{36})", sent.stdout).group(1)  # type: ignore[union-attr]
    assert f"ec task retry {run_id}" in sent.stderr

    retried = ec("task", "retry", run_id)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "sent again: 1 parcel(s) (1)" in retried.stdout
    assert "4 parcel(s) to count: 4 reached aggregation, 0 failed, 0 pending" in retried.stdout
    whole = expected(TEXT)
    assert whole["first"] == 4 and whole["whole"] == 5
    assert json.loads(ok(ec("task", "status", run_id, "--json")))["aggregate"] == whole
    assert run_id in ok(ec("ls", "maps"))
    short = ec("task", "status", run_id[:8])
    assert short.returncode == 2 and "give the whole id" in short.stderr
    # In the flow's runs, the map run is one run (its own root call), its parcels the calls under it.
    runs = runtime.wait_for(
        lambda: (
            [r for r in client_for(alice).get(f"/api/flows/{words.pk}/runs").json()["runs"] if r["trace_id"] == run_id]
            or None
        ),
        20,
        "the map run in the flow's runs",
    )
    assert len(runs) == 1 and runs[0]["calls"] >= 6  # the run's root, 4 parcels, the retried one

    # The SDK: the same run from a program, receipts and aggregate; the list reduce keeps the parcels' order.
    client = Client(ec.url, ec.token_for(alice))
    run = Socket("count", flow="wc", client=client).map(["a b a", "b"], wait=60)
    assert run.data["status"] == "succeeded" and run.data["aggregate"] == {"a": 2, "b": 2}
    listed = Socket("count", flow="wc", client=client).map(["x", "y y"], reduce="list", wait=60)
    assert listed.status()["aggregate"] == [{"x": 1}, {"y": 2}]

    # charlie sees no run of alice's, and cannot start one on her socket.
    charlie_api = requests.Session()
    charlie_api.headers["Authorization"] = f"Token {ec.token_for(charlie)}"
    assert charlie_api.get(f"{ec.url}/api/maps/{run_id}/").status_code == 404
    assert charlie_api.get(f"{ec.url}/api/maps/").json()["results"] == []
    socket_id = Socket("count", flow="wc", client=client).id
    assert charlie_api.post(f"{ec.url}/api/sockets/{socket_id}/map/", json={"parcels": ["a"]}).status_code == 404
    # Bad input: a clear 400, nothing sent.
    bad = requests.post(
        f"{ec.url}/api/sockets/{socket_id}/map/",
        json={"parcels": []},
        headers={"Authorization": f"Token {ec.token_for(alice)}"},
    )
    assert bad.status_code == 400 and "parcels" in bad.text


def tapping(flow: Flow, target: str) -> bool:
    return bool(broker.client().hexists(keys.taps(flow.pk), target))


def test_taps_show_the_messages_along_a_plug_and_into_a_socket_sampled_and_bounded(
    words: Flow, ec: Ec, alice: Any, charlie: Any, runtime: Runtime
) -> None:
    plug = Plug.objects.get(flow=words, name="first-second")
    client = Client(ec.url, ec.token_for(alice))
    first = Socket("first", flow="wc", client=client)
    watcher = subprocess.Popen(
        [*EC, "tap", "-p", "first-second", "--flow", "wc", "--count", "3", "--seconds", "60", "--json"],
        cwd=BASE_DIR,
        env=ec.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runtime.wait_for(lambda: tapping(words, str(plug.pk)), 30, "the tap to be registered")
    time.sleep(1.2)  # the worker reads the taps once a second
    for n in range(3):
        ok(ec("task", "run", "-s", "first", "-d", json.dumps({"n": n}), "--flow", "wc"))
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["payload"] for e in events] == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    assert {(e["kind"], e["from"], e["to"], e["name"]) for e in events} == {("plug", "first", "second", "first-second")}

    # The SDK taps the socket: a large payload comes as a bounded preview; rate 1/s lets few of a burst through.
    seen: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: seen.extend(first.tap(seconds=6, rate=1)))
    reader.start()
    runtime.wait_for(lambda: tapping(words, first.id), 30, "the socket tap")
    time.sleep(1.2)
    api = requests.Session()
    api.headers["Authorization"] = f"Token {ec.token_for(alice)}"
    send = f"{ec.url}/api/sockets/{first.id}/messages/"
    assert api.post(send, json={"data": "x" * 5000}).status_code == 202
    for n in range(10):  # a burst, well within a second
        assert api.post(send, json={"data": n}).status_code == 202
    reader.join(30)
    assert seen and seen[0]["payload"].startswith('"xxx') and seen[0]["payload"].endswith("…")
    assert len(seen[0]["payload"].encode()) <= 1024 + len("…".encode())
    assert len(seen) <= 3, [e["payload"][:10] for e in seen]  # one a second: not the whole burst of 11
    assert all(e["kind"] == "socket" and e["to"] == "first" for e in seen)

    # charlie may not tap what he cannot see.
    refused = ec("tap", "-p", str(plug.pk), "--seconds", "1", user=charlie)
    assert refused.returncode == 1 and "ec: " in refused.stderr
    with pytest.raises(ApiError) as unseen:
        list(tap("plug", str(plug.pk), seconds=0.5, client=Client(ec.url, ec.token_for(charlie))))
    assert unseen.value.status == 404
