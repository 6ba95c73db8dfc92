"""The host side of the executor: a warm subprocess, started with the processor's venv python, that runs user code.

One Executor belongs to one worker thread at a time (it is not thread-safe, and needs no lock). User code gets a
scrubbed environment (never the database, broker or secret settings), its own working directory, resource limits
(address space, open files, CPU seconds per call) and a wall-clock timeout per call; an executor that hangs or dies
is killed and started again on the next call, and the call is reported as a timeout or crash so it can be retried.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from flows.runtime.runner import HEADER

RUNNER = Path(__file__).with_name("runner.py")
START_TIMEOUT = 60.0
SECRET_MARKERS = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PASSWORD", "TOKEN", "CELERY_BROKER", "DJANGO_")


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 1024
    cpu_seconds: int = 300
    open_files: int = 256
    capture_bytes: int = 65536

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            memory_mb=settings.ELASTICCODE_EXECUTOR_MEMORY_MB,
            cpu_seconds=settings.ELASTICCODE_EXECUTOR_CPU_SECONDS,
            open_files=settings.ELASTICCODE_EXECUTOR_OPEN_FILES,
            capture_bytes=settings.ELASTICCODE_CAPTURE_BYTES,
        )


@dataclass
class Outcome:
    ok: bool
    values: list[Any] = field(default_factory=list)
    named: dict[str, Any] = field(default_factory=dict)
    kind: str = "ok"  # ok | error | invalid_result | timeout | crash
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    stdout: str = ""
    stderr: str = ""
    duration_ms: float = 0.0


class ExecutorError(Exception):
    """The executor could not start (module missing, import error, bad interpreter): a message a person can act on."""


def scrubbed_env(python: Path, workdir: Path, extra: Mapping[str, str] | None) -> dict[str, str]:
    """Built from nothing, so no variable of the worker (database, broker, secrets) can leak into user code."""
    env = {
        "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for key, value in (extra or {}).items():
        if not any(marker in key.upper() for marker in SECRET_MARKERS):
            env[key] = value
    return env


def _signal_name(code: int) -> str:
    name = signal.Signals(-code).name
    return (
        name
        + (" (CPU time limit exceeded)" if name == "SIGXCPU" else "")
        + (" (killed; out of memory?)" if name == "SIGKILL" else "")
    )


class Executor:
    def __init__(
        self,
        python: str | Path,
        module: str,
        *,
        workdir: Path,
        limits: Limits,
        extra_path: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.python = Path(python)
        self.module = module
        self.workdir = Path(workdir)
        self.limits = limits
        self.extra_path = list(extra_path)
        self.env = dict(env or {})
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def _preexec(self) -> None:
        memory = self.limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.limits.open_files, self.limits.open_files))
        # Die with the worker: an orphaned executor would hold memory and file handles for nothing.
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)

    def start(self) -> None:
        self.close()
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        argv = [str(self.python), str(RUNNER), "--module", self.module]
        argv += ["--capture-bytes", str(self.limits.capture_bytes), "--cpu-seconds", str(self.limits.cpu_seconds)]
        for path in self.extra_path:
            argv += ["--path", path]
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.workdir,
                env=scrubbed_env(self.python, self.workdir, self.env),
                preexec_fn=self._preexec,
                start_new_session=True,
            )
        except OSError as exc:
            raise ExecutorError(f"cannot start {self.python}: {exc.strerror}") from exc
        reply = self._receive(START_TIMEOUT)
        if reply is None or not reply.get("ok"):
            detail = (reply or {}).get("error") or self._stderr() or "the executor exited before it was ready"
            self.close()
            raise ExecutorError(detail)

    def _stderr(self) -> str:
        if self._proc is None or self._proc.stderr is None:
            return ""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        return self._proc.stderr.read().decode(errors="replace").strip()[-2000:]

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                stream.close()

    # -- frames ------------------------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        body = json.dumps(message, separators=(",", ":")).encode()
        self._proc.stdin.write(HEADER.pack(len(body)) + body)
        self._proc.stdin.flush()

    def _read_exact(self, n: int, deadline: float) -> bytes | None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        chunks = []
        while n:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, n)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        """The next frame; None on timeout. Raises EOFError when the process died."""
        deadline = time.monotonic() + timeout
        header = self._read_exact(HEADER.size, deadline)
        if header is None:
            return None
        body = self._read_exact(HEADER.unpack(header)[0], deadline)
        return None if body is None else json.loads(body)

    def _request(self, message: dict[str, Any], timeout: float) -> dict[str, Any] | Outcome:
        if self._proc is None or self._proc.poll() is not None:
            self.start()
        started = time.perf_counter()
        try:
            self._send(message)
            reply = self._receive(timeout)
        except (EOFError, BrokenPipeError):
            proc = self._proc
            code = proc.wait() if proc else 0
            self.close()
            how = _signal_name(code) if code < 0 else f"exit code {code}"
            return Outcome(
                ok=False,
                kind="crash",
                error=f"the executor died with {how} while running {message.get('function', message['op'])}",
                error_type="ExecutorCrash",
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        if reply is None:
            self.close()
            return Outcome(
                ok=False,
                kind="timeout",
                error=f"{message.get('function', message['op'])} did not finish within {timeout:g} s; "
                "the executor was restarted",
                error_type="Timeout",
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        return reply

    # -- API ---------------------------------------------------------------------------------------------------

    def call(self, function: str, payload: Any, args: Sequence[Any] = (), *, timeout: float) -> Outcome:
        request = {"op": "call", "function": function, "payload": payload, "args": list(args)}
        size = len(json.dumps(request))
        if size > settings.ELASTICCODE_MAX_MESSAGE_BYTES + 1024:
            return Outcome(
                ok=False,
                kind="error",
                error=f"the message is {size:,} bytes; the limit is {settings.ELASTICCODE_MAX_MESSAGE_BYTES:,}",
                error_type="TooLarge",
            )
        reply = self._request(request, timeout)
        if isinstance(reply, Outcome):
            return reply
        if reply.get("ok"):
            return Outcome(
                ok=True,
                values=reply.get("values", []),
                named=reply.get("named") or {},
                stdout=reply.get("stdout", ""),
                stderr=reply.get("stderr", ""),
                duration_ms=reply.get("duration_ms", 0.0),
            )
        return Outcome(
            ok=False,
            kind=reply.get("kind", "error"),
            error=reply.get("error", ""),
            error_type=reply.get("error_type", ""),
            traceback=reply.get("traceback", ""),
            stdout=reply.get("stdout", ""),
            stderr=reply.get("stderr", ""),
            duration_ms=reply.get("duration_ms", 0.0),
        )

    def describe(self) -> list[dict[str, Any]]:
        reply = self._request({"op": "describe"}, START_TIMEOUT)
        if isinstance(reply, Outcome) or not reply.get("ok"):
            raise ExecutorError(reply.error if isinstance(reply, Outcome) else reply.get("error", "describe failed"))
        return list(reply["functions"])

    def source(self, function: str) -> dict[str, Any]:
        reply = self._request({"op": "source", "function": function}, START_TIMEOUT)
        if isinstance(reply, Outcome) or not reply.get("ok"):
            raise ExecutorError(reply.error if isinstance(reply, Outcome) else reply.get("error", "source failed"))
        return reply
