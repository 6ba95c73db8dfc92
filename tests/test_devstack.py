"""`make run`'s launcher (backend/devstack.py), end to end: it serves, survives a kill -9, stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from backend.devstack import free_port, pid_alive

BASE_DIR = Path(__file__).resolve().parent.parent


def start(data_dir: Path, port: int, **env_overrides: str) -> tuple[subprocess.Popen[str], list[str]]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(ELASTICCODE_DATA_DIR=str(data_dir), PORT=str(port), **env_overrides)
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.devstack", "run"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return proc, lines
    proc.kill()
    pytest.fail("make run did not come up:\n" + "".join(lines))


def server_pids(data_dir: Path) -> dict[str, int]:
    pids = {name: int((data_dir / "run" / f"{name}.pid").read_text()) for name in ("web", "redis")}
    pids["postgres"] = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    return pids


def wait_gone(pids: dict[str, int], timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [name for name, pid in pids.items() if pid_alive(pid)]
        if not alive:
            return []
        time.sleep(0.2)
    return alive


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def token(port: int, password: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/auth/token/",
        method="POST",
        data=json.dumps({"username": "admin", "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["token"])


def admin_password(lines: list[str]) -> str:
    line = next(line for line in lines if "log in as admin / " in line)
    return line.split("log in as admin / ")[1].strip()


def test_it_serves_recovers_from_kill_9_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    proc, lines = start(tmp_path, port)
    password = admin_password(lines)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/docs/", timeout=10) as response:
        assert response.status == 200
    assert token(port, password)
    pids = server_pids(tmp_path)

    os.kill(proc.pid, signal.SIGKILL)  # the launcher dies without any cleanup of its own
    proc.wait()
    assert wait_gone(pids) == [], "servers outlived a kill -9 of make run"

    proc, lines = start(tmp_path, port)
    assert admin_password(lines) == password, "the admin password must survive restarts"
    assert token(port, password)
    pids = server_pids(tmp_path)

    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)  # as make and the process group both pass one on
    assert proc.wait(60) == 0
    assert proc.stdout is not None and "everything stopped" in proc.stdout.read()
    assert wait_gone(pids) == []
    assert not port_open(port)
    assert not (tmp_path / "run" / "web.pid").exists()


def test_it_uses_given_servers_and_starts_none(tmp_path: Path) -> None:
    port = free_port()
    given = {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}
    proc, lines = start(tmp_path, port, ELASTICCODE_ADMIN_PASSWORD="a-given-Passw0rd", **given)
    try:
        output = "".join(lines)
        assert "DATABASE_URL is set" in output and "REDIS_URL is set" in output
        assert not (tmp_path / "postgres").exists() and not (tmp_path / "run" / "redis.pid").exists()
        assert token(port, "a-given-Passw0rd")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_a_second_run_on_the_same_data_refuses_clearly(tmp_path: Path) -> Any:
    port = free_port()
    proc, _ = start(tmp_path, port)
    try:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        second = subprocess.run(
            [sys.executable, "-m", "backend.devstack", "run"],
            cwd=BASE_DIR,
            timeout=60,
            env={**env, "ELASTICCODE_DATA_DIR": str(tmp_path), "PORT": str(free_port())},
            capture_output=True,
            text=True,
        )
        assert second.returncode == 1
        assert "another `make run` is using" in second.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_a_second_signal_while_stopping_is_ignored() -> None:
    """The first SIGTERM or SIGINT starts the shutdown; one arriving during it must not raise into it again."""
    from backend.devstack import Stop, _raise_stop

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(Stop):
            _raise_stop(signal.SIGTERM, None)
        assert signal.getsignal(signal.SIGTERM) == signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])
