"""The host side of the executor: a warm subprocess, started with the processor's venv python, that runs user code.

The protocol (frames of 4-byte big-endian length + UTF-8 JSON over the child's stdin/stdout) is documented in
runner.py, the child side.

Thread-safety: an Executor is used by one thread at a time (the socket task's worker thread owns one; see
context.py). It holds no lock and no global state; `close` from another thread is safe only when no call is running.

Isolation of user code: a new session (so a process group we can kill as a whole, with whatever user code spawned),
a scrubbed environment built from nothing (never the database, broker or secret settings), the processor's sandbox
(sandbox.py: a user of its own when the platform is root, a Landlock view of the filesystem: its venv and checkout
to read, its working directory to write, nothing of the platform's), resource limits (address space, open files,
CPU seconds per call, no core files) and a wall-clock timeout per call. An executor that hangs or dies is killed;
the call is reported as a timeout or crash (so the task can retry it) and the next call starts a fresh process.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from backend import jsonlimits
from flows.runtime import sandbox as sandboxes
from flows.runtime.runner import CAPTURE_FILES, HEADER, TRUNCATED
from flows.runtime.sandbox import Sandbox, SandboxError

RUNNER = Path(__file__).with_name("runner.py")
START_TIMEOUT = 60.0  # importing a heavy module (pandas, torch) on a busy node takes a while
INSPECT_TIMEOUT = 30.0
STDERR_TAIL = 4000
CRASH_GRACE = 2.0
SECRET_MARKERS = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PASSWORD", "TOKEN", "CELERY_BROKER")
# The per-call CPU budget is a soft limit the runner moves before each call; the hard limit only stops user code
# that ignores SIGXCPU. It is generous because it counts the warm process's whole life: the runner asks to be
# replaced (`recycle`) before it comes near.
CPU_HARD_FACTOR = 100
CPU_HARD_MIN = 3600
PR_SET_PDEATHSIG = 1
READ_CHUNK = 1 << 16
# One encoder, not json.dumps(..., options) per call: that builds a new encoder every time, on the hot path.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# Loaded here, not in the child after fork: preexec_fn runs in a forked copy of a multi-threaded worker, where an
# import (import lock, held by another thread at fork time) could deadlock.
try:
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_seconds: int
    open_files: int
    capture_bytes: int

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
    values: list[Any]
    named: dict[str, Any]
    kind: str  # ok | error | invalid_result | timeout | crash
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    stdout: str = ""
    stderr: str = ""
    duration_ms: float = 0.0
    # The payload as it was sent to the function, JSON (encoded once for the call; lineage keeps a preview of it).
    payload_json: bytes = b""
    # The error document of a call this function made (elasticcode.call) whose failure it did not handle: the
    # handler chains it (flows/runtime/calls.py).
    remote: dict[str, Any] | None = None
    cached: bool = False  # taken from a pure socket's memo (flows/runtime/memo.py): the function did not run


# What the executor's host does with the calls a function makes (flows/runtime/calls.py): the requests in, the
# answers out, in order.
CallsHandler = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


class ExecutorError(Exception):
    """The executor could not start, or could not answer describe/source: a message a person can act on."""

    def __init__(self, message: str, *, traceback: str = "") -> None:
        super().__init__(message)
        self.traceback = traceback


def is_secret(key: str) -> bool:
    upper = key.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def scrubbed_env(python: Path, workdir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Built from nothing, so no variable of the worker (database, broker, secrets) can leak into user code;
    `extra` entries whose name looks like a secret are dropped, so they cannot be passed in on purpose either."""
    env = {
        "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONNOUSERSITE": "1",
        # getpass.getuser() and friends: a sandbox user has no passwd entry.
        "USER": "elasticcode",
        "LOGNAME": "elasticcode",
    }
    for key, value in (extra or {}).items():
        if not is_secret(key):
            env[key] = str(value)
    return env


def describe_exit(returncode: int) -> str:
    """'SIGXCPU (CPU time limit exceeded)' or 'exit code 3'."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        sig = signal.Signals(-returncode)
    except ValueError:
        return f"signal {-returncode}"
    reason = {
        signal.SIGKILL: "killed: out of memory, or by an operator",
        signal.SIGXCPU: "CPU time limit exceeded",
    }.get(sig) or signal.strsignal(sig)
    return f"{sig.name} ({reason})" if reason else sig.name


class _Frames:
    """Reads whole frames from the child's stdout with a deadline (poll, not select: worker fds can pass 1024)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.poller = select.poll()
        self.poller.register(fd, select.POLLIN)
        self.body = b""  # the last frame read, for checks that are free on the raw text (jsonlimits.check)

    def read(self, deadline: float) -> dict[str, Any] | None:
        """The next frame; None when the deadline passed. Raises EOFError when the child closed its end."""
        need = HEADER.size
        size = -1
        while True:
            if size < 0 and len(self.buffer) >= HEADER.size:
                size = HEADER.unpack_from(self.buffer)[0]
                need = HEADER.size + size
            if size >= 0 and len(self.buffer) >= need:
                body = self.body = bytes(self.buffer[HEADER.size : need])
                del self.buffer[:need]
                try:
                    reply: dict[str, Any] = json.loads(body)
                except RecursionError:
                    # Deeper than Python's JSON reads (about 1,000 levels): a result the platform cannot carry,
                    # refused like any other invalid result (never retried, never a crash of the worker).
                    return _too_deep_reply()
                return reply
            left = deadline - time.monotonic()
            if left <= 0 or not self.poller.poll(left * 1000):
                return None
            chunk = os.read(self.fd, max(READ_CHUNK, need - len(self.buffer)))
            if not chunk:
                raise EOFError
            self.buffer += chunk

    def write(self, fd: int, body: bytes) -> None:
        view = memoryview(HEADER.pack(len(body)) + body)
        while view:
            view = view[os.write(fd, view) :]


def _too_deep_reply() -> dict[str, Any]:
    return {
        "ok": False,
        "kind": "invalid_result",
        "error": f"the executor answered with JSON nested more than {settings.ELASTICCODE_MAX_JSON_DEPTH} levels "
        "deep (ELASTICCODE_MAX_JSON_DEPTH)",
        "error_type": "ResultTooDeep",
    }


def _text(reply: dict[str, Any], name: str) -> str:
    """A text field of a reply, with lone surrogates escaped: user code's error messages can hold them, and text
    that cannot be encoded as UTF-8 would break whatever stores or shows it next (Redis, the channel layer)."""
    value = reply.get(name) or ""
    return jsonlimits.encodable(value if isinstance(value, str) else str(value))


class Executor:
    """One warm runner subprocess for one module. Not thread-safe: one thread at a time (see the module doc).

    `sandbox` confines it (sandbox.py); by default it runs as the platform's user, still confined by Landlock to
    its interpreter, `extra_path` and `workdir`. Processors' executors get their processor's sandbox.
    """

    def __init__(
        self,
        python: str | Path,
        module: str,
        *,
        workdir: Path,
        limits: Limits,
        extra_path: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.python = Path(python)
        self.module = module
        self.workdir = Path(workdir).absolute()
        self.limits = limits
        self.extra_path = [str(p) for p in extra_path]
        self.env = dict(env or {})
        self.sandbox = sandbox or sandboxes.local(module)
        self._proc: subprocess.Popen[bytes] | None = None
        self._frames: _Frames | None = None
        self._recycle = False
        self._generation = 0  # counts starts: a call that waited on its calls checks its process is still the same

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._running(self._proc) else None

    @staticmethod
    def _running(proc: subprocess.Popen[bytes]) -> bool:
        """Alive, checked without reaping: an unreaped leader keeps its pid, so killpg cannot hit a stranger."""
        if proc.returncode is not None:
            return False
        try:
            return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return proc.poll() is None

    # -- life cycle --------------------------------------------------------------------------------------------

    def _preexec(self, rlimits: Sequence[tuple[int, tuple[int, int]]]) -> None:
        """Runs in the child between fork and exec: no imports, no allocation-heavy work (see _prctl)."""
        for which, limit in rlimits:
            resource.setrlimit(which, limit)
        if _prctl is not None:
            # Die with the worker: an orphaned executor would hold memory and file handles for nothing. (Linux ties
            # this to the thread that forks; worker pool threads live as long as the worker, as the executors do.)
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def _rlimits(self) -> list[tuple[int, tuple[int, int]]]:
        """Computed in the parent; a limit is never raised above the worker's own hard limit (that would fail)."""

        def capped(which: int, value: int) -> tuple[int, int]:
            hard = resource.getrlimit(which)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            return value, value

        memory = self.limits.memory_mb * 1024 * 1024
        cpu_hard = max(self.limits.cpu_seconds * CPU_HARD_FACTOR, CPU_HARD_MIN)
        cpu_soft = cpu_hard
        current_cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        if current_cpu_hard != resource.RLIM_INFINITY:
            cpu_hard = cpu_soft = min(cpu_hard, current_cpu_hard)
        return [
            (resource.RLIMIT_AS, capped(resource.RLIMIT_AS, memory)),
            (resource.RLIMIT_NOFILE, capped(resource.RLIMIT_NOFILE, self.limits.open_files)),
            (resource.RLIMIT_CPU, (cpu_soft, cpu_hard)),
            (resource.RLIMIT_CORE, (0, 0)),  # a SIGXCPU or SIGSEGV must not leave a core file the size of memory
        ]

    def _sandbox_reads(self, runner: Path) -> list[Path]:
        """What the runner must read: its script, the interpreter's installation, the venv (`<venv>/bin/python`),
        and the extra path entries (the sandbox adds its own: the processor's checkout)."""
        return [
            runner,
            sandboxes.interpreter_prefix(self.python),
            self.python.absolute().parent.parent,
            *(Path(p) for p in self.extra_path),
        ]

    def start(self) -> None:
        """Spawn the runner and wait until the module is imported. Raises ExecutorError with the reason."""
        self.close()
        try:
            self.sandbox.own(self.workdir)
            self.sandbox.own(self.workdir / "tmp")
            runner = sandboxes.shared_copy(RUNNER)
        except (OSError, SandboxError) as exc:
            raise ExecutorError(f"cannot prepare the sandbox of {self.sandbox.name}: {exc}") from exc
        argv = [str(self.python), "-I", "-u", str(runner), "--module", self.module]
        argv += ["--capture-bytes", str(self.limits.capture_bytes), "--cpu-seconds", str(self.limits.cpu_seconds)]
        argv += ["--max-result-bytes", str(settings.ELASTICCODE_MAX_MESSAGE_BYTES)]
        for path in self.extra_path:
            argv += ["--path", path]
        rlimits = self._rlimits()
        try:
            with sandboxes.confined(
                self.sandbox,
                reads=self._sandbox_reads(runner),
                writes=[self.workdir],
                before=lambda: self._preexec(rlimits),
            ) as confinement:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,  # only the runner's own start-up errors: it redirects fd 2 right away
                    cwd=self.workdir,
                    env=scrubbed_env(self.python, self.workdir, self.env),
                    start_new_session=True,
                    close_fds=True,
                    **confinement,
                )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ExecutorError(f"cannot start {self.python}: {getattr(exc, 'strerror', None) or exc}") from exc
        self._proc = proc
        self._generation += 1
        assert proc.stdout is not None
        self._frames = _Frames(proc.stdout.fileno())
        try:
            ready = self._frames.read(time.monotonic() + START_TIMEOUT)
        except (EOFError, ValueError):
            self._kill()
            detail = self._startup_output(proc)
            self.close()
            raise ExecutorError(
                f"the executor for module {self.module} exited with {describe_exit(proc.returncode or 0)} "
                f"before it was ready, at {self.python}" + (f": {detail}" if detail else "")
            ) from None
        if ready is None:
            self.close()
            raise ExecutorError(f"module {self.module} did not load within {START_TIMEOUT:g} s at {self.python}")
        if not ready.get("ok"):
            self.close()
            error = str(ready.get("error") or "unknown error")
            message = (
                f"{error} at {self.python}"
                if error == f"module {self.module} not found"
                else f"importing {self.module} failed: {error}"
            )
            raise ExecutorError(message, traceback=str(ready.get("traceback") or ""))
        # The runner writes nothing more to this pipe (its fd 2 is a capture file now): do not keep an fd for it.
        if proc.stderr is not None:
            proc.stderr.close()

    def _startup_output(self, proc: subprocess.Popen[bytes]) -> str:
        """What the dead runner said: its stderr pipe (before it redirected fd 2), else its stderr capture file."""
        text = ""
        if proc.stderr is not None and not proc.stderr.closed:
            # Non-blocking: a stray holder of the pipe's write end must not hang the worker here.
            fd = proc.stderr.fileno()
            os.set_blocking(fd, False)
            chunks = []
            with contextlib.suppress(BlockingIOError):
                while chunk := os.read(fd, READ_CHUNK):
                    chunks.append(chunk)
            text = b"".join(chunks).decode(errors="replace").strip()
        if not text:
            text = self._capture_file(1).strip()
        return text[-STDERR_TAIL:]

    def _capture_file(self, index: int) -> str:
        """A capture file read from the host, for a call whose runner died before it could reply."""
        limit = self.limits.capture_bytes
        try:
            with open(self.workdir / CAPTURE_FILES[index], "rb") as f:
                data = f.read(limit + 1)
        except OSError:
            return ""
        if len(data) > limit:
            return data[:limit].decode(errors="replace") + f"\n{TRUNCATED}"
        return data.decode(errors="replace")

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            # The whole group (whatever user code started), while the unreaped leader still holds the group id.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def close(self) -> None:
        """Idempotent: kill the process group if it still runs, reap it, close the pipes."""
        self._kill()
        proc, self._proc, self._frames, self._recycle = self._proc, None, None, False
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------------------------------

    def _ensure_started(self) -> None:
        if self._recycle or self._proc is None or not self._running(self._proc):
            self.start()

    def _exchange(
        self, body: bytes, what: str, timeout: float, on_calls: CallsHandler | None = None
    ) -> dict[str, Any] | Outcome:
        """Send one request body, wait for its reply; a dead or hung child becomes a crash/timeout Outcome.

        Calls the function makes meanwhile go to `on_calls`; the time spent waiting for them does not count
        against `timeout` (the callees have time limits of their own)."""
        self._ensure_started()
        proc, frames = self._proc, self._frames
        assert proc is not None and proc.stdin is not None and frames is not None
        generation = self._generation
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        try:
            frames.write(proc.stdin.fileno(), body)
            while True:
                reply = frames.read(deadline)
                if reply is None or reply.get("op") != "calls":
                    break
                waited = time.monotonic()
                requests = reply.get("calls")
                requests = requests if isinstance(requests, list) else []
                answers = on_calls(requests) if on_calls is not None else None
                if self._generation != generation or self._proc is not proc:
                    # A call run nested while this one waited killed the process (its timeout, a crash): this call
                    # died with it and is reported as a crash, so that it is retried.
                    return self._failure(
                        "crash", f"the executor was restarted while {what} waited on its calls", started
                    )
                if answers is None:
                    answers = [
                        {
                            "ok": False,
                            "error": {
                                "error": "calls are possible only inside a flow's socket call",
                                "error_type": "RuntimeError",
                            },
                        }
                        for _ in requests
                    ]
                deadline += time.monotonic() - waited
                frames.write(proc.stdin.fileno(), _encode({"op": "answers", "answers": answers}).encode())
        except (EOFError, BrokenPipeError, ValueError):
            if self._proc is not proc:
                return self._failure("crash", f"the executor was restarted while {what} waited on its calls", started)
            return self._crashed(what, started)
        if reply is None:
            self._kill()
            outcome = self._failure(
                "timeout", f"{what} did not finish within {timeout:g} s; the executor was restarted", started
            )
            self.close()
            return outcome
        if reply.pop("recycle", False):
            self._recycle = True
        return reply

    def _crashed(self, what: str, started: float) -> Outcome:
        proc = self._proc
        assert proc is not None
        # EOF normally means the process is exiting; wait for that without reaping it, so that _kill can still
        # signal its process group (user code's children). User code closing the protocol fd leaves it alive.
        deadline = time.monotonic() + CRASH_GRACE
        while self._running(proc) and time.monotonic() < deadline:
            time.sleep(0.005)
        exited = not self._running(proc)
        self._kill()
        how = describe_exit(proc.returncode or 0) if exited else "its protocol pipe closed (killed)"
        outcome = self._failure("crash", f"executor died with {how} while running {what}", started)
        self.close()
        return outcome

    def _failure(self, kind: str, error: str, started: float) -> Outcome:
        return Outcome(
            ok=False,
            values=[],
            named={},
            kind=kind,
            error=error,
            error_type="ExecutorTimeout" if kind == "timeout" else "ExecutorCrash",
            stdout=self._capture_file(0),
            stderr=self._capture_file(1),
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    # -- API ---------------------------------------------------------------------------------------------------

    def call(
        self,
        function: str,
        payload: Any,
        args: Sequence[Any] = (),
        *,
        timeout: float,
        argument: str = "",
        on_calls: CallsHandler | None = None,
    ) -> Outcome:
        """Run function(payload, *args), or function(*args, <argument>=payload), in the warm process (started if
        needed: may raise ExecutorError)."""
        try:
            data = _encode(payload).encode()
            extra = _encode(list(args)).encode()
        except (TypeError, ValueError) as exc:
            return Outcome(
                False, [], {}, "error", error=f"the payload of {function} is not JSON: {exc}", error_type="TypeError"
            )
        limit = settings.ELASTICCODE_MAX_MESSAGE_BYTES
        size = len(data) + (len(extra) if args else 0)
        if size > limit:
            return Outcome(
                False,
                [],
                {},
                "error",
                error=f"the payload of {function} is {size:,} bytes as JSON; "
                f"the limit is {limit:,} (ELASTICCODE_MAX_MESSAGE_BYTES)",
                error_type="PayloadTooLarge",
            )
        # Assembled by hand so the payload is encoded once, and measured exactly, on the hot path.
        body = b'{"op":"call","function":%s,"args":%s,"payload":%s%s}' % (
            _encode(function).encode(),
            extra,
            data,
            b',"argument":%s' % _encode(argument).encode() if argument else b"",
        )
        reply = self._exchange(body, function, timeout, on_calls)
        if isinstance(reply, Outcome):
            reply.payload_json = data
            return reply
        if reply.get("ok"):
            values, named = reply.get("values", []), reply.get("named") or {}
            try:
                # The trust boundary for what user code returns: the runner refuses what is not JSON, this refuses
                # what the platform cannot carry (too deep, lone surrogates), whatever wrote the frame. Free for the
                # common case (few brackets, no \ud escapes in the frame).
                # Each value may nest the limit itself; the list (or the dict of plugs) around them adds one level.
                # One check per container, not per value: a generator's thousand values scan the frame once.
                raw = self._frames.body if self._frames else None
                jsonlimits.check(values, raw=raw, path="values", around=1)
                jsonlimits.check(named, raw=raw, path="plugs", around=1)
            except jsonlimits.JSONLimitError as problem:
                reply = {
                    "ok": False,
                    "kind": "invalid_result",
                    "error": f"the result of {function} is {problem} (at {problem.path})",
                    "error_type": "InvalidResult",
                    **{name: reply.get(name, "") for name in ("stdout", "stderr", "duration_ms")},
                }
            else:
                return Outcome(
                    ok=True,
                    values=values,
                    named=named,
                    kind="ok",
                    stdout=_text(reply, "stdout"),
                    stderr=_text(reply, "stderr"),
                    duration_ms=reply.get("duration_ms", 0.0),
                    payload_json=data,
                )
        return Outcome(
            ok=False,
            values=[],
            named={},
            kind=reply.get("kind", "error"),
            error=_text(reply, "error"),
            error_type=_text(reply, "error_type"),
            traceback=_text(reply, "traceback"),
            stdout=_text(reply, "stdout"),
            stderr=_text(reply, "stderr"),
            duration_ms=reply.get("duration_ms", 0.0),
            payload_json=data,
            remote=reply["remote"] if isinstance(reply.get("remote"), dict) else None,
        )

    def _inspect(self, request: dict[str, Any], what: str) -> dict[str, Any]:
        reply = self._exchange(json.dumps(request).encode(), what, INSPECT_TIMEOUT)
        if isinstance(reply, Outcome):
            raise ExecutorError(reply.error)
        if not reply.get("ok"):
            raise ExecutorError(str(reply.get("error") or f"{what} failed"))
        return reply

    def describe(self) -> list[dict[str, Any]]:
        """The module's public functions: name, signature, parameters, accepts_plugs, generator, doc."""
        return list(self._inspect({"op": "describe"}, "describe")["functions"])

    def source(self, function: str) -> dict[str, Any]:
        """{"source", "file" (relative to its sys.path entry), "line"} of one function."""
        reply = self._inspect({"op": "source", "function": function}, f"source of {function}")
        return {"source": reply["source"], "file": reply["file"], "line": reply["line"]}
