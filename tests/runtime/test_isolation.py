"""User code reaches none of the platform's secrets (issue 14, case 1), tested from the user code's side.

A processor's package probes what it can see twice: when it is installed (its setup.py runs during the venv build,
and what it saw is baked into the installed package) and when it runs (a socket call). Neither may see the agent's
environment, the data directory's secret files (`run/stack.json`, `postgres.secret`, `redis.secret`,
`secret_key`, as `make run` writes them), the worker's /proc environment, or signal the worker.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from flows.models import Processor
from flows.runtime import sandbox
from tests.factories import ProcessorFactory, SocketFactory, make_flow
from tests.runtime.conftest import Runtime, start
from tests.runtime.gitrepos import make_repo
from tests.runtime.test_flow_runs import send

pytestmark = pytest.mark.runtime

# Both programs below read files the same way: what they could read, or the error they got.
READ = """
def _read(path):
    try:
        with open(path) as f:
            return {"read": f.read()[:300]}
    except Exception as exc:
        return {"error": type(exc).__name__}
"""

SPY = (
    """
import json, os
"""
    + READ
    + """


def probe(paths):
    seen = {"uid": os.getuid(), "environ": dict(os.environ), "files": {p: _read(p) for p in paths}}
    seen["files"]["worker environ"] = _read(f"/proc/{os.getppid()}/environ")
    try:
        os.kill(os.getppid(), 0)
        seen["signal worker"] = "allowed"
    except Exception as exc:
        seen["signal worker"] = type(exc).__name__
    return seen


def at_build(_):
    from ecspy_build import SEEN
    return SEEN
"""
)

# Runs in the venv build, as a package's setup.py does; what it saw becomes a module of the installed package.
SETUP = (
    """
import json, os, sys
from setuptools import setup
"""
    + READ
    + """


seen = {"uid": os.getuid(), "environ": dict(os.environ), "files": {p: _read(p) for p in PATHS}}
with open("ecspy_build.py", "w") as out:
    out.write("SEEN = " + repr(seen) + "\\n")
# Compact, so that what matters fits in the status message's tail whatever else the build prints.
names = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CELERY_BROKER_URL")
shown = {"environ": {k: os.environ[k] for k in names if k in os.environ}, "files": seen["files"]}
sys.stderr.write("BUILD-SAW " + json.dumps(shown) + "\\n")
if os.path.exists("FAIL"):
    sys.exit("this build fails on purpose, after printing what it saw")
setup(name="ecspy-pkg", version="0.1.0", py_modules=["ecspy", "ecspy_build"])
"""
)

PYPROJECT = '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'


def secret_files(runtime: Runtime) -> tuple[list[str], list[str]]:
    """The agent's data directory laid out as `make run` leaves it, and the test stack's own: (paths, secrets)."""
    secrets = [os.environ["DATABASE_URL"], os.environ["REDIS_URL"]]
    data = runtime.tmp / "data"
    (data / "run").mkdir(parents=True, exist_ok=True)
    files = {
        data / "run" / "stack.json": json.dumps({"database_url": secrets[0], "redis_url": secrets[1]}),
        data / "postgres.secret": "pg-secret-of-the-agent",
        data / "redis.secret": "redis-secret-of-the-agent",
        data / "secret_key": "django-secret-key-of-the-agent",
    }
    for path, text in files.items():
        path.write_text(text)
        path.chmod(0o600)
    paths = [str(path) for path in files]
    secrets += ["pg-secret-of-the-agent", "redis-secret-of-the-agent", "django-secret-key-of-the-agent"]
    stack = Path(os.environ.get("ELASTICCODE_DATA_DIR") or "/nonexistent")  # the test stack's own (devstack exec)
    paths += [str(stack / "run" / "stack.json"), str(stack / "postgres.secret"), str(stack / "redis.secret")]
    return paths, secrets


def spy_repo(tmp: Path, paths: list[str], *, fail: bool = False) -> str:
    files = {"ecspy.py": SPY, "setup.py": f"PATHS = {paths!r}\n{SETUP}", "pyproject.toml": PYPROJECT}
    if fail:
        files["FAIL"] = "yes"
    make_repo(tmp / ("spy-fail" if fail else "spy"), files)
    return f"file://{tmp / ('spy-fail' if fail else 'spy')}"


def assert_blind(seen: dict[str, Any], secrets: list[str], where: str) -> None:
    readable = {path: result for path, result in seen["files"].items() if "read" in result}
    assert not readable, f"{where} read {sorted(readable)}"
    names = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    assert not names & set(seen["environ"]), f"{where} saw {sorted(names & set(seen['environ']))}"
    text = json.dumps(seen)
    for secret in secrets:
        assert secret not in text, f"{where} saw a secret"
    if os.geteuid() == 0:
        assert seen["uid"] != 0, f"{where} ran as root"


def test_user_code_reaches_no_secret_at_build_or_run_time(runtime: Runtime, alice: Any) -> None:
    paths, secrets = secret_files(runtime)
    flow = make_flow(alice, "spy")
    processor = ProcessorFactory(flow=flow, name="spy", git_url=spy_repo(runtime.tmp, paths), module="ecspy")
    SocketFactory(processor=processor, name="probe", function="probe")
    SocketFactory(processor=processor, name="at_build", function="at_build")
    start(processor)
    runtime.start_agent()
    runtime.wait_status(processor, "running")

    built = send(alice, flow, "at_build", 0).json()
    ran = send(alice, flow, "probe", paths).json()

    assert_blind(built["results"][0], secrets, "setup.py")
    [seen] = ran["results"]
    assert_blind(seen, secrets, "a socket call")
    assert seen["signal worker"] != "allowed"
    if sandbox.switches_users():
        assert seen["uid"] == sandbox.uid_for(str(processor.pk))


def test_a_failing_build_prints_no_secret_into_the_status(runtime: Runtime, alice: Any) -> None:
    paths, secrets = secret_files(runtime)
    flow = make_flow(alice, "spy")
    processor = ProcessorFactory(flow=flow, name="spy", git_url=spy_repo(runtime.tmp, paths, fail=True), module="ecspy")
    SocketFactory(processor=processor, name="probe", function="probe")
    start(processor)
    runtime.start_agent()

    failed = runtime.wait_status(processor, "error")

    message = Processor.objects.get(pk=failed.pk).status_message
    assert "BUILD-SAW" in message  # what setup.py printed does reach the status: it saw nothing worth hiding
    for secret in secrets:
        assert secret not in message
    assert "DATABASE_URL" not in message and "REDIS_URL" not in message
