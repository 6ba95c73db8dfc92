"""The sandbox's layers one at a time (flows/runtime/sandbox.py), each tested from the user code's side.

test_isolation.py runs a whole processor with all of them; here each layer must hold alone: Landlock as the
platform's own user (a laptop's `make run`), and a user of its own without Landlock (an old kernel, as root).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.runtime import context as context_module
from flows.runtime import sandbox
from flows.runtime.context import WorkerContext
from flows.runtime.executor import Executor, Limits
from flows.runtime.sandbox import Sandbox

PROBE = """
import os


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        return type(exc).__name__


def write(path):
    try:
        with open(path, "w") as f:
            f.write("written by user code")
        return "written"
    except OSError as exc:
        return type(exc).__name__


def signal_parent(_):
    try:
        os.kill(os.getppid(), 0)
        return "allowed"
    except OSError as exc:
        return type(exc).__name__


def uid(_):
    return os.getuid()
"""

LIMITS = Limits(memory_mb=1024, cpu_seconds=30, open_files=256, capture_bytes=65536)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root (CI runs as root)")
needs_landlock = pytest.mark.skipif(sandbox.landlock_abi() < 1, reason="this kernel has no Landlock")


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory every user may pass through (pytest's temp root is private), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="ec-sandbox-"))
    path.chmod(0o711)
    (path / "code").mkdir()
    (path / "code" / "probe.py").write_text(textwrap.dedent(PROBE))
    (path / "code").chmod(0o755)
    (path / "code" / "probe.py").chmod(0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def executor(place: Path, confinement: Sandbox, python: str | None = None) -> Executor:
    return Executor(
        python or sandbox.interpreter(),
        "probe",
        workdir=place / "work",
        limits=LIMITS,
        extra_path=[str(place / "code")],
        sandbox=confinement,
    )


def call(executor: Executor, function: str, payload: Any) -> Any:
    outcome = executor.call(function, payload, timeout=30)
    assert outcome.ok, outcome.error
    return outcome.values[0]


@needs_landlock
def test_landlock_alone_hides_everything_not_granted(place: Path) -> None:
    # A file anyone may read, beside the code but not granted: the platform's data directory is such a place.
    secret = place / "stack.json"
    secret.write_text("postgres://platform:password@db/x")
    secret.chmod(0o644)
    with executor(place, sandbox.local("test")) as ex:
        assert call(ex, "read", str(secret)) == "PermissionError"
        assert call(ex, "write", str(place / "planted.py")) == "PermissionError"
        assert call(ex, "write", str(place / "work" / "mine.txt")) == "written"  # its working directory
        assert call(ex, "read", "/etc/os-release") not in ("PermissionError", "FileNotFoundError")
        if sandbox.landlock_abi() >= 6:
            assert call(ex, "signal_parent", None) == "PermissionError"
    assert not (place / "planted.py").exists()


@needs_root
def test_a_user_of_its_own_alone_cannot_read_the_platforms_private_files(place: Path, settings: Any) -> None:
    settings.ELASTICCODE_CODE_DIR = place / "codetree"
    secret = place / "postgres.secret"
    secret.write_text("pg-password")
    secret.chmod(0o600)
    uid = sandbox.uid_for("7d3e2b1a-0000-4000-8000-000000000001")
    own = Sandbox(name="test", uid=uid, landlock=False)
    with executor(place, own) as ex:
        assert call(ex, "uid", None) == uid
        assert call(ex, "read", str(secret)) == "PermissionError"
        assert call(ex, "write", str(place / "planted.py")) == "PermissionError"
        assert call(ex, "signal_parent", None) == "PermissionError"
        assert call(ex, "write", str(place / "work" / "mine.txt")) == "written"
    assert (place / "work").stat().st_uid == uid


@needs_root
def test_a_worker_without_root_closes_its_environment_to_user_code_of_the_same_user() -> None:
    """A laptop's `make run`: worker and user code are one ordinary user, so file modes cannot keep the worker's
    /proc/<pid>/environ (DATABASE_URL, REDIS_URL) from user code; harden_platform_process (non-dumpable) does.
    Played here by a forked child that becomes an ordinary user, reads its own environ through a child of the same
    user, then hardens itself and tries again."""
    python = sandbox.interpreter()
    user = sandbox.uid_for("7d3e2b1a-0000-4000-8000-000000000003")
    reader = "import os,sys\ntry: open(f'/proc/{os.getppid()}/environ','rb').read(); print('read')\nexcept OSError as e: print(type(e).__name__)"
    out, into = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgroups([])
            os.setgid(user)
            os.setuid(user)
            ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # a uid change clears "dumpable"; an ordinary process has it
            seen = [subprocess.run([python, "-c", reader], capture_output=True, text=True).stdout.strip()]
            sandbox.harden_platform_process()
            seen.append(subprocess.run([python, "-c", reader], capture_output=True, text=True).stdout.strip())
            os.write(into, json.dumps(seen).encode())
        finally:
            os._exit(0)
    os.close(into)
    with os.fdopen(out) as report:
        seen = json.loads(report.read() or "[]")
    os.waitpid(pid, 0)

    assert seen == ["read", "PermissionError"]


@needs_root
def test_a_built_venv_is_read_only_to_the_processor_that_runs_it(place: Path, settings: Any) -> None:
    from flows.runtime.venvs import ensure_venv

    settings.ELASTICCODE_CODE_DIR = place / "codetree"
    sandbox.prepare_code_dir()
    (place / "code" / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "probe-pkg"\nversion = "0.1.0"\n[tool.setuptools]\npy-modules = ["probe"]\n'
    )
    confinement = sandbox.for_processor("7d3e2b1a-0000-4000-8000-000000000002")
    python = ensure_venv(place / "code", sandbox=confinement)
    installed = next(python.parent.parent.glob("lib/python*/site-packages/probe.py"))
    before = installed.read_text()
    assert installed.stat().st_uid == os.geteuid()
    with Executor(python, "probe", workdir=place / "work", limits=LIMITS, sandbox=confinement) as ex:
        assert call(ex, "write", str(installed)) == "PermissionError"
    assert installed.read_text() == before


@needs_landlock
def test_a_venv_builds_when_the_code_directory_is_inside_a_project(place: Path, settings: Any) -> None:
    """make run's code directory is .data/code inside the platform's own checkout. uv looks for a workspace in every
    directory above what it builds, and the sandbox may not read the platform's pyproject.toml: the build must not
    happen beneath it (it did, and the demo's processors failed with 'Permission denied' on pyproject.toml)."""
    from flows.runtime.venvs import ensure_venv

    platform = place / "platform"
    platform.mkdir()
    (platform / "pyproject.toml").write_text('[project]\nname = "the-platform"\nversion = "1"\n')
    settings.ELASTICCODE_CODE_DIR = platform / ".data" / "code"
    sandbox.prepare_code_dir()
    (place / "code" / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "probe-pkg"\nversion = "0.1.0"\n[tool.setuptools]\npy-modules = ["probe"]\n'
    )

    python = ensure_venv(place / "code", sandbox=sandbox.for_processor("7d3e2b1a-0000-4000-8000-000000000004"))

    assert next(python.parent.parent.glob("lib/python*/site-packages/probe.py")).exists()


def test_the_build_environment_holds_only_what_a_build_needs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "DATABASE_URL": "postgres://u:pw@db/x",
        "REDIS_URL": "redis://:pw@cache/0",
        "SECRET_KEY": "k",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
        "UV_INDEX_URL": "https://pypi.example/simple",
    }.items():
        monkeypatch.setenv(name, value)

    env = sandbox.build_env(home=tmp_path)

    assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert env["UV_INDEX_URL"] == "https://pypi.example/simple"
    assert not {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "AWS_SECRET_ACCESS_KEY"} & set(env)
    assert env["HOME"] == str(tmp_path)


def test_runner_threads_never_share_a_slot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Issue 14, case 13: two runner threads starting together took the same slot, and with it the same working
    directory and capture files. A slow Executor constructor (a busy disk) opens the window wide."""
    real = context_module.Executor

    def slow_executor(*args: Any, **kwargs: Any) -> Executor:
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(context_module, "Executor", slow_executor)
    context = WorkerContext(processor_id="p", name="w", python="python3", module="m", workdir=tmp_path, limits=LIMITS)
    start = threading.Barrier(6)
    workdirs: list[Path] = []

    def take() -> None:
        start.wait()
        workdirs.append(context.executor().workdir)

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(workdirs)) == 6, sorted(workdirs)
