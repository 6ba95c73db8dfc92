"""Runtime tests run the real thing: a `manage.py agent` subprocess on the test database starts real processor
workers that run code from git repositories made in a temp dir, through the real Redis."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
from django.db import connection

from flows.models import Call, Flow, Processor
from flows.runtime import broker, kombu_broker
from tests.rabbitmq import rabbitmq  # noqa: F401 - fixture
from tests.runtime.gitrepos import make_repo, package_files

BASE_DIR = Path(__file__).resolve().parents[2]
EXAMPLES = BASE_DIR / "examples" / "sample"


def examples_files() -> dict[str, str]:
    return {
        f"sample/{p.relative_to(EXAMPLES)}": p.read_text()
        for p in EXAMPLES.rglob("*")
        if p.is_file() and "egg-info" not in str(p) and "__pycache__" not in str(p)
    }


SINK_MODULE = """
import os, time

def relay(n):
    return n

def slow(n):
    time.sleep(0.01)
    return n

def slower(n):
    time.sleep(0.1)
    return n

def env_leak(_):
    return {k: v for k, v in os.environ.items()}

def boom(n):
    raise RuntimeError(f"boom {n}")

def fan(n, plugs):
    plugs["double"] = 2 * n
    return n

def scaled(factor=3, value=0):
    return factor * value
"""


@pytest.fixture
def sink_repo(tmp_path: Path) -> str:
    path = tmp_path / "sinkrepo"
    make_repo(path, package_files("ecsink", SINK_MODULE))
    return f"file://{path}"


@pytest.fixture(scope="session")
def code_dir() -> Iterator[Path]:
    """Checkouts and venvs shared by the whole session: a venv is built once per (repo content, commit).

    Not under pytest's temp root, which is private (0700): run as root, the agent gives processors users of their
    own (flows/runtime/sandbox.py), who must be able to pass through every directory above the code tree."""
    path = Path(tempfile.mkdtemp(prefix="ec-code-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def examples_repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("repos") / "examples"
    make_repo(path, examples_files())
    return f"file://{path}"


class Runtime:
    def __init__(self, tmp: Path, code_dir: Path) -> None:
        self.tmp = tmp
        self.code_dir = code_dir
        self.agents: list[subprocess.Popen[bytes]] = []
        self.node = f"test-{uuid.uuid4().hex[:8]}"
        self.overrides: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        url = urlparse(os.environ["DATABASE_URL"])
        test_db = urlunparse(url._replace(path=f"/{connection.settings_dict['NAME']}"))
        return {
            **os.environ,
            "DATABASE_URL": test_db,
            "DJANGO_SETTINGS_MODULE": "backend.settings.test",
            "ELASTICCODE_CODE_DIR": str(self.code_dir),
            "ELASTICCODE_DATA_DIR": str(self.tmp / "data"),
            "ELASTICCODE_NODE_NAME": self.node,
            **self.overrides,
        }

    def start_agent(
        self, node: str | None = None, *, prefix: Sequence[str] = (), **env: str
    ) -> subprocess.Popen[bytes]:
        """An agent process on node `node` (this runtime's own node by default), with `env` on top of env(); its
        command behind `prefix` (say, `ip netns exec NS`)."""
        named = {"ELASTICCODE_NODE_NAME": node} if node else {}
        with open(self.tmp / f"agent-{len(self.agents)}.log", "ab") as log:
            proc = subprocess.Popen(
                [*prefix, sys.executable, "manage.py", "agent", "--interval", "0.2"],
                cwd=BASE_DIR,
                env={**self.env(), **named, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.agents.append(proc)
        return proc

    def stop_agents(self) -> None:
        for proc in self.agents:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.agents:
            try:
                proc.wait(45)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        out = []
        for path in sorted((self.tmp).glob("agent-*.log")) + sorted((self.tmp / "data" / "logs").glob("*.log")):
            out.append(f"==== {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(out)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")

    def wait_status(self, processor: Processor, status: str, timeout: float = 90) -> Processor:
        def check() -> Processor | None:
            processor.refresh_from_db()
            return processor if processor.status == status else None

        try:
            return self.wait_for(check, timeout, f"{processor.name} to be {status}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast status: {processor.status} {processor.status_message}") from None

    def calls(self, trace_id: str, count: int, timeout: float = 30) -> list[Call]:
        return self.wait_for(
            lambda: (rows := list(Call.objects.filter(trace_id=trace_id))) and len(rows) >= count and rows,
            timeout,
            f"{count} calls of trace {trace_id}",
        )


@pytest.fixture
def runtime(transactional_db: Any, settings: Any, code_dir: Path, tmp_path: Path) -> Iterator[Runtime]:
    settings.ELASTICCODE_CODE_DIR = code_dir
    rt = Runtime(tmp_path, code_dir)
    yield rt
    rt.stop_agents()


@contextlib.contextmanager
def broker_url(settings: Any, url: str) -> Iterator[None]:
    """This process publishes to (and reads depths from) the broker at `url`, as the web process would."""
    from backend.celery import app

    def use(value: str) -> None:
        settings.CELERY_BROKER_URL = value
        app.conf.broker_url = value
        app._pool = None
        app.amqp._producer_pool = None
        broker.on_redis.cache_clear()
        kombu_broker.confirming.cache_clear()

    before = str(settings.CELERY_BROKER_URL)
    use(url)
    try:
        yield
    finally:
        use(before)


@pytest.fixture(params=["redis", "rabbitmq"])
def any_broker(request: pytest.FixtureRequest, settings: Any, runtime: Runtime) -> Iterator[str]:
    """Run the test on each broker: the platform's Redis (the default), then RabbitMQ (CELERY_BROKER_URL), for this
    process (the API's publishes, queue depths) and for the agent and its workers."""
    if request.param == "redis":
        yield "redis"
        return
    url = request.getfixturevalue("rabbitmq")
    runtime.overrides["CELERY_BROKER_URL"] = url
    with broker_url(settings, url):
        yield "rabbitmq"


def start(*processors: Processor) -> None:
    Processor.objects.filter(pk__in=[p.pk for p in processors]).update(requested_status="running")


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def redis() -> Any:
    return broker.client()


def flow_of(processor: Processor) -> Flow:
    return processor.flow
