"""Benchmark: graph GET and PUT of a 500-processor flow over HTTP (make bench; figures go to docs/benchmarks.md).

Daphne, as `make run` starts it, answers real HTTP requests with token auth over one keep-alive connection. The baseline in the
same run is the cheapest authenticated endpoint (GET /api/users/me/), so the ratio says how much of the time is
the graph itself rather than the machine.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.conftest import client_for
from tests.factories import make_flow, make_user
from tests.live import daphne

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db(transaction=True)]

PROCESSORS = 500


def build_document(version: int) -> dict[str, Any]:
    processors = [
        {
            "name": f"proc{i}",
            "git_url": "file:///srv/repos/sample.git",
            "module": "sample.functions",
            "position": {"x": 200.0 * (i % 25), "y": 150.0 * (i // 25)},
            "sockets": [
                {"name": f"proc{i}.split", "function": "split"},
                {"name": f"proc{i}.count", "function": "count"},
            ],
        }
        for i in range(PROCESSORS)
    ]
    plugs = [{"source": f"proc{i}.split", "target": f"proc{i}.count"} for i in range(PROCESSORS)]
    plugs += [{"source": f"proc{i}.count", "target": f"proc{i + 1}.split"} for i in range(PROCESSORS - 1)]
    plugs.append({"source": "proc0.split", "target": "proc2.split"})
    return {"version": version, "processors": processors, "plugs": plugs}


class Http:
    def __init__(self, url: str, token: str) -> None:
        parsed = urlparse(url)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[float, Any]:
        data = json.dumps(body).encode() if body is not None else None
        started = time.perf_counter()
        self.conn.request(method, path, body=data, headers=self.headers)
        response = self.conn.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status == 200, payload[:500]
        return elapsed, json.loads(payload)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def test_graph_get_and_put_of_500_processors() -> None:
    alice = make_user("alice", "CREATE")
    flow = make_flow(alice, "bench")
    token = client_for(alice)._credentials["HTTP_AUTHORIZATION"].split()[1]
    with daphne() as url:
        run(Http(url, token), f"/api/flows/{flow.id}/graph", flow.version)


def run(http_client: Http, path: str, version: int) -> None:
    create_ms, graph = http_client.call("PUT", path, build_document(version))
    assert len(graph["processors"]) == PROCESSORS and len(graph["plugs"]) == 2 * PROCESSORS

    baseline = [http_client.call("GET", "/api/users/me/")[0] for _ in range(50)]
    gets = [http_client.call("GET", path)[0] for _ in range(30)]
    puts = []
    for i in range(15):
        _, graph = http_client.call("GET", path)
        for proc in graph["processors"][:20]:  # an ordinary edit: move twenty nodes
            proc["position"] = {"x": proc["position"]["x"] + 1, "y": proc["position"]["y"] + i}
        elapsed, graph = http_client.call("PUT", path, graph)
        puts.append(elapsed)

    base50, base95 = percentiles(baseline)
    get50, get95 = percentiles(gets)
    put50, put95 = percentiles(puts)
    print(
        f"\n[graph bench] {PROCESSORS} processors, {2 * PROCESSORS} sockets, {len(graph['plugs'])} plugs\n"
        f"  first PUT (creates everything): {create_ms:.0f} ms\n"
        f"  graph GET   p50 {get50:.1f} ms  p95 {get95:.1f} ms  (target p50 < 150 ms)\n"
        f"  graph PUT   p50 {put50:.1f} ms  p95 {put95:.1f} ms  (20 nodes moved per save)\n"
        f"  baseline GET /api/users/me/ p50 {base50:.1f} ms  p95 {base95:.1f} ms\n"
        f"  ratio graph GET p50 / baseline p50: {get50 / base50:.1f}"
    )
