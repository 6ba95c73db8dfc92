"""A private RabbitMQ node for the tests: Debian's `rabbitmq-server` (installed by .ci/run), started as a child of
the test session on free ports with its own data directory, and stopped with it.

`RABBITMQ_REQUIRED=1` (set by .ci/run) makes a missing server a failure instead of a skip, so CI cannot pass by
not running the RabbitMQ half of the suite.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.devstack import die_with_parent, free_port

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def require_server() -> None:
    if not SERVER.exists():
        if os.environ.get("RABBITMQ_REQUIRED") == "1":
            pytest.fail(f"{SERVER} is missing: apt-get install rabbitmq-server (.ci/run does)")
        pytest.skip("rabbitmq-server is not installed (apt-get install rabbitmq-server)")


class Node:
    """One RabbitMQ node; `stop` and `start` again keep its data (same node name, ports and directory)."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="ec-rabbitmq-"))
        (self.home / "enabled_plugins").write_text("[].\n")
        self.port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),  # the Erlang cookie lives here
            "RABBITMQ_NODENAME": f"ectest{uuid.uuid4().hex[:8]}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.home / "pid"),
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq"),
        }
        self.server: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _up(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> None:
        with open(self.home / "server.log", "ab") as log:
            self.server = subprocess.Popen(
                [str(SERVER)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        deadline = time.monotonic() + 90
        while not self._up():
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ did not start:\n{(self.home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.server is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.server.pid, signal.SIGTERM)
        try:
            self.server.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(10)
        self.server = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[str]:
    """The AMQP URL of a RabbitMQ node of this session."""
    require_server()
    node = Node()
    try:
        node.start()
        yield node.url
    finally:
        node.remove()
