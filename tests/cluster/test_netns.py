"""Three nodes in network namespaces of their own (issue 17): each agent, its Celery workers and their executors
live in a namespace joined to this machine's by a veth pair, and reach PostgreSQL and Redis only through it (socat
relays the servers' loopback ports onto the host side of each pair), as separate hosts on a network would. A node
is killed with SIGKILL (every process of its namespace) while 2,000 messages flow: all arrive, none completes twice
at the sink, and its replicas run elsewhere.

The namespaces reach nothing else (no package index): a first node outside them warms the code cache they share.
Needs root and `ip netns` (and socat); skipped, saying why, where the machine refuses."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest

from backend.cluster.models import Node
from flows.models import Processor
from tests.cluster.test_nodes import (
    MESSAGES,
    NODES,
    arrived,
    completed_twice,
    joined,
    pipeline,
    placed,
    running_on,
    send_many,
)
from tests.runtime.conftest import Runtime, start

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(600)]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Namespace:
    name: str
    host_ip: str  # this machine's end of the veth pair
    relays: list[subprocess.Popen[bytes]]

    def rewrite(self, url: str) -> str:
        """A server URL as the node reaches it: the host's end of its veth pair instead of loopback."""
        parts = urlparse(url)
        netloc = parts.netloc.replace(f"{parts.hostname}:", f"{self.host_ip}:")
        return urlunparse(parts._replace(netloc=netloc))

    def kill_everything(self) -> int:
        """SIGKILL every process in the namespace at once: the node loses power."""
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        return len(pids)


def _ports(*urls: str) -> set[int]:
    return {port for url in urls if (port := urlparse(url).port)}


@pytest.fixture
def namespaces() -> Iterator[list[Namespace]]:
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("socat"):
        pytest.skip("network namespaces need root, iproute2 and socat: run as root, or see test_nodes.py (loopback)")
    tag = uuid.uuid4().hex[:5]
    made: list[Namespace] = []
    ports = _ports(os.environ["DATABASE_URL"], os.environ.get("REDIS_URL", ""))
    try:
        for i in range(1, 4):
            name, host_end, node_end = f"ec{tag}n{i}", f"ec{tag}h{i}", f"ec{tag}v{i}"
            subnet = f"10.{200 + i}.{int(tag[:2], 16)}"
            try:
                _ip("netns", "add", name)
            except subprocess.CalledProcessError as exc:
                pytest.skip(f"this machine refuses network namespaces ({exc.stderr.strip()}): see test_nodes.py")
            _ip("link", "add", host_end, "type", "veth", "peer", "name", node_end)
            _ip("link", "set", node_end, "netns", name)
            _ip("addr", "add", f"{subnet}.1/24", "dev", host_end)
            _ip("link", "set", host_end, "up")
            _ip("netns", "exec", name, "ip", "addr", "add", f"{subnet}.2/24", "dev", node_end)
            _ip("netns", "exec", name, "ip", "link", "set", node_end, "up")
            _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
            relays = [
                subprocess.Popen(
                    ["socat", f"TCP-LISTEN:{port},bind={subnet}.1,fork,reuseaddr", f"TCP:127.0.0.1:{port}"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for port in ports
            ]
            made.append(Namespace(name, f"{subnet}.1", relays))
        time.sleep(0.5)  # the relays listening
        yield made
    finally:
        for ns in made:
            ns.kill_everything()
            for relay in ns.relays:
                relay.kill()
                relay.wait()
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)


def start_node(runtime: Runtime, ns: Namespace, node: str) -> None:
    """An agent inside the namespace, reaching the servers through its veth pair only."""
    env = runtime.env()
    moved = {key: ns.rewrite(env[key]) for key in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL") if key in env}
    runtime.start_agent(node, prefix=["ip", "netns", "exec", ns.name], **NODES, **moved)


def warm_code_cache(runtime: Runtime, *processors: Processor) -> None:
    """The namespaces have no route to the package index (only to PostgreSQL and Redis), so their agents could not
    build a virtualenv: a node outside them builds the processors' first, into the code cache these nodes share on
    this machine (ELASTICCODE_CODE_DIR), and leaves."""
    agent = runtime.start_agent("builder")
    start(*processors)
    for processor in processors:
        runtime.wait_status(processor, "running", timeout=240)
    Processor.objects.filter(pk__in=[p.pk for p in processors]).update(requested_status="stopped")
    for processor in processors:
        runtime.wait_status(processor, "stopped")
    agent.terminate()
    agent.wait(60)
    runtime.wait_for(lambda: Node.objects.get(name="builder").status == "offline", 30, "the builder to leave")


def test_three_nodes_in_their_own_network_namespaces_survive_losing_one(
    runtime: Runtime, namespaces: list[Namespace], alice: Any, sink_repo: str
) -> None:
    relay, sink, entry = pipeline(alice, sink_repo, replicas=3)
    warm_code_cache(runtime, relay, sink)
    for i, ns in enumerate(namespaces, 1):
        start_node(runtime, ns, f"n{i}")
    joined(runtime, 3)
    start(relay, sink)
    running_on(runtime, relay, {"n1", "n2", "n3"}, timeout=240)
    running_on(runtime, sink, {"n1", "n2", "n3"})
    assert sorted(n for n, _ in placed(relay)) == ["n1", "n2", "n3"]
    victim = placed(sink)[0][0]

    ids = send_many(entry, MESSAGES)
    runtime.wait_for(lambda: arrived(ids) >= 100, 120, "the flow to be moving")
    killed_at = time.monotonic()
    assert namespaces[int(victim[1:]) - 1].kill_everything() >= 3  # the agent, its workers, their executors
    survivors = {"n1", "n2", "n3"} - {victim}
    runtime.wait_for(lambda: Node.objects.get(name=victim).status == "down", 30, f"{victim} to be down")
    running_on(runtime, relay, survivors)
    running_on(runtime, sink, survivors)
    print(f"\nfailover across namespaces: {victim} killed → running elsewhere in {time.monotonic() - killed_at:.1f} s")

    runtime.wait_for(lambda: arrived(ids) == MESSAGES, 300, f"all {MESSAGES} messages at the sink")
    assert completed_twice(runtime) == []
