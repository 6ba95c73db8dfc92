"""The executor's child side: stdlib only, run by the processor's own virtualenv python as a script.

    python -I -u runner.py --module pkg.mod [--path DIR ...] [--capture-bytes N] [--cpu-seconds N]

This file must not import anything outside the standard library: it runs under a foreign interpreter whose venv has
only the processor's packages. (`-I` keeps this file's directory, flows/runtime/, off sys.path, so a user module named
like one of ours, `worker` or `keys`, is not shadowed; `main` also drops it if the runner is started without `-I`.)

Start-up: the protocol moves off fds 0 and 1 to private descriptors (so a print, a C library writing to fd 1, or a
subprocess inheriting fd 1 cannot corrupt it), fd 0 becomes /dev/null and fds 1 and 2 become the capture files
`.ec-stdout` / `.ec-stderr` in the working directory; then the module is imported.

Frames, both ways: a 4-byte big-endian length, then that many bytes of UTF-8 JSON (one object).

First frame, child to host:
    {"ok": true, "kind": "ready", "pid": 123}
    {"ok": false, "kind": "load", "error": "module ext.sample not found", "error_type": ..., "traceback": ...}
    (after a load failure the process exits)

Requests and replies:
    {"op": "call", "function": "f", "payload": <json>, "args": [<json>, ...][, "argument": "name"]}
        calls f(payload, *args[, plugs={}][, output={}]), or with "argument" f(*args, name=payload, …) (a plug
        that feeds a named argument), and consumes a returned generator; `plugs` and `output` are fresh dicts each
        call when f takes them (PyFi's processors take both; what they put in `output` stays theirs);
        -> {"ok": true, "values": [...], "named": {plug: value}, "stdout", "stderr", "duration_ms"[, "recycle": true]}
        -> {"ok": false, "kind": "error" | "invalid_result", "error", "error_type", "traceback", "stdout", "stderr",
            "duration_ms"}
    {"op": "describe"} -> {"ok": true, "functions": [{"name", "signature", "parameters", "accepts_plugs",
                                                      "generator", "doc"}, ...]}
    {"op": "source", "function": "f"} -> {"ok": true, "source", "file", "line"}

`recycle` asks the host to replace this process before the next call: it has used so much CPU in total that the
hard RLIMIT_CPU would cut the next call's budget short.

Calls from inside a function (`from elasticcode import call, calls`, a module this runner provides): during a call,
the child may send, instead of its reply,
    {"op": "calls", "calls": [{"socket": "divide", "payload": <json>, "args": [<json>, ...]}, ...]}
and then reads frames until
    {"op": "answers", "answers": [{"ok": true, "value": <json>} | {"ok": false, "error": {...}}, ...]}
(in order) comes back. Meanwhile the host may send more `call` requests: the waiting slot serves its worker's other
messages (flows/runtime/calls.py), and they run here nested, on top of the waiting function, each with its own
capture; the waiting function's own output is kept aside and put back. A function that fails because a call it made
failed (an uncaught `CallFailed`) replies with the callee's error document in "remote", so the host can chain it.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import importlib
import inspect
import json
import os
import resource
import struct
import sys
import time
import traceback
import types
from typing import Any

HEADER = struct.Struct(">I")
READ_CHUNK = 1 << 16
CAPTURE_FILES = (".ec-stdout", ".ec-stderr")
TRUNCATED = "[… truncated]"
RUNNER_FILE = os.path.abspath(__file__)
_encode = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode


def _frame(message: dict[str, Any]) -> bytes:
    """A reply that is not a result (an error, a description): text from user code (an exception's message) may
    hold lone surrogates, sent as their JSON escapes rather than failing the reply. Results are encoded strictly
    (`Runner.call`): a result that is not text is refused."""
    return _encode(message).encode("utf-8", "backslashreplace")


class Channel:
    """Blocking framed JSON on two private descriptors. Requests strictly alternate with replies, so one read
    usually brings a whole frame."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.buffer = b""

    def _fill(self, n: int) -> None:
        while len(self.buffer) < n:
            chunk = os.read(self.read_fd, max(READ_CHUNK, n - len(self.buffer)))
            if not chunk:
                raise EOFError
            self.buffer += chunk

    def receive(self) -> Any:
        self._fill(HEADER.size)
        end = HEADER.size + HEADER.unpack_from(self.buffer)[0]
        self._fill(end)
        body, self.buffer = self.buffer[HEADER.size : end], self.buffer[end:]
        return json.loads(body)

    def send_body(self, body: bytes) -> None:
        view = memoryview(HEADER.pack(len(body)) + body)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def send(self, message: dict[str, Any]) -> None:
        self.send_body(_frame(message))


class Capture:
    """fd-level capture of stdout and stderr, per call, bounded to `limit` bytes each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.fds: list[int] = []
        for target, name in ((1, CAPTURE_FILES[0]), (2, CAPTURE_FILES[1])):
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, target)  # fds 1 and 2 share the file offset with `fd`, so seeking one moves both
            self.fds.append(fd)

    def reset(self) -> None:
        _flush()
        for fd in self.fds:
            if os.fstat(fd).st_size:
                os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)

    def stash(self) -> list[bytes]:
        """What the running call printed so far, kept aside while a nested call uses the capture files."""
        _flush()
        return [os.pread(fd, os.fstat(fd).st_size, 0) for fd in self.fds]

    def restore(self, kept: list[bytes]) -> None:
        self.reset()
        for fd, data in zip(self.fds, kept, strict=True):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

    def collect(self) -> tuple[str, str]:
        _flush()
        out = []
        for fd in self.fds:
            size = os.fstat(fd).st_size
            if not size:
                out.append("")
                continue
            text = os.pread(fd, min(size, self.limit), 0).decode(errors="replace")
            if size > self.limit:
                text += f"\n{TRUNCATED} {size - self.limit} more bytes"
            out.append(text)
        return out[0], out[1]


class CallFailed(Exception):
    """A call made with `elasticcode.call`/`calls` failed on its socket (after that socket's retries).

    `socket` is the socket whose function raised, `error_type` its exception's class name, `chain` the calls it
    came through, innermost first (`[{"socket": "divide", "call": "divide(1, 0)"}, ...]`), `remote_traceback` the
    original traceback, and `error` the whole error document."""

    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error
        self.socket = str(error.get("socket") or "")
        self.error_type = str(error.get("error_type") or "")
        self.chain = list(error.get("chain") or [])
        self.remote_traceback = str(error.get("traceback") or "")
        where = " called from ".join(str(link.get("call") or link.get("socket")) for link in self.chain)
        message = str(error.get("error") or self.error_type or "failed")
        super().__init__(f"{message} (in {where or self.socket})")


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # user code may have replaced or closed them
            stream.flush()


def _user_traceback(exc: BaseException) -> str:
    """The formatted traceback (with chained exceptions) without the runner's own frames at the top."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == RUNNER_FILE:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _json_default(value: Any) -> Any:
    """A parameter default as JSON if it is JSON, else its repr."""
    try:
        _encode(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


class Runner:
    def __init__(
        self,
        module: Any,
        capture: Capture,
        cpu_seconds: int,
        max_result_bytes: int = 0,
        channel: Channel | None = None,
    ) -> None:
        self.max_result_bytes = max_result_bytes
        self.channel = channel
        self.depth = 0  # calls running on this stack: the waiting ones and the one on top
        self.module = module
        self.capture = capture
        self.cpu_seconds = cpu_seconds
        self._functions: dict[str, tuple[Any, bool, bool]] = {}

    def _function(self, name: Any) -> tuple[Any, bool, bool] | None:
        """(function, accepts_plugs, accepts_output), cached: inspect.signature costs more than the rest of a
        call."""
        cached = self._functions.get(name) if isinstance(name, str) else None
        if cached is not None:
            return cached
        if not isinstance(name, str) or not name or name.startswith("_"):
            return None
        fn = getattr(self.module, name, None)
        if fn is None or inspect.isclass(fn) or inspect.ismodule(fn) or not callable(fn):
            return None
        try:
            parameters = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            parameters = {}  # type: ignore[assignment]
        found = (fn, "plugs" in parameters, "output" in parameters)
        self._functions[name] = found
        return found

    def _cpu_used(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def _limit_cpu(self) -> None:
        """The soft limit counts the process's whole life, so move it to `now + budget` before every call."""
        if self.cpu_seconds <= 0:
            return
        _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = int(self._cpu_used()) + 1 + self.cpu_seconds
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))

    def _needs_recycle(self) -> bool:
        if self.cpu_seconds <= 0:
            return False
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        return hard != resource.RLIM_INFINITY and self._cpu_used() + 1 + self.cpu_seconds > hard

    def request_calls(self, requests: list[Any]) -> list[Any]:
        """Send `requests` (socket, payload, *args) to the host and wait for their values in order, running the
        nested calls the host sends meanwhile. Raises CallFailed for the first that failed."""
        if self.channel is None or self.depth == 0:
            raise RuntimeError("elasticcode.call works only while the platform runs a function (not at import)")
        calls = []
        for index, item in enumerate(requests):
            if isinstance(item, str):
                item = (item,)
            if not isinstance(item, tuple | list) or not item or not isinstance(item[0], str):
                raise TypeError(f"calls()[{index}]: give (socket name, payload, *args), not {item!r}")
            calls.append({"socket": item[0], "payload": item[1] if len(item) > 1 else None, "args": list(item[2:])})
        if not calls:
            return []
        try:
            body = _encode({"op": "calls", "calls": calls}).encode()
        except (TypeError, ValueError) as exc:
            raise TypeError(f"the arguments of a call must be JSON: {exc}") from None
        self.channel.send_body(body)
        while True:
            message = self.channel.receive()
            op = message.get("op") if isinstance(message, dict) else None
            if op == "answers":
                break
            if op == "call":  # the host serves another message while this one waits: run it on top of this one
                kept = self.capture.stash()
                try:
                    self.channel.send_body(self.call(message))
                finally:
                    self.capture.restore(kept)
                    self._limit_cpu()
                continue
            self.channel.send({"ok": False, "kind": "error", "error": f"unexpected op {op!r} during a call"})
        values = []
        for answer in message.get("answers") or []:
            if not answer.get("ok"):
                raise CallFailed(answer.get("error") or {})
            values.append(answer.get("value"))
        return values

    def call(self, request: dict[str, Any]) -> bytes:
        """The reply frame's body, encoded once (the JSON check of the result is that same encoding)."""
        self.depth += 1
        try:
            return self._call(request)
        finally:
            self.depth -= 1

    def _call(self, request: dict[str, Any]) -> bytes:
        name = request.get("function")
        found = self._function(name)
        if found is None:
            return _frame(
                {
                    "ok": False,
                    "kind": "error",
                    "error": f"function {name} not found in module {self.module.__name__}",
                    "error_type": "LookupError",
                    "traceback": "",
                    "stdout": "",
                    "stderr": "",
                    "duration_ms": 0.0,
                }
            )
        fn, accepts_plugs, accepts_output = found
        plugs: dict[str, Any] = {}
        kwargs: dict[str, Any] = {"plugs": plugs} if accepts_plugs else {}
        if accepts_output:
            # A fresh dict, not the shared mutable default PyFi's signatures declare (`output={}`).
            kwargs["output"] = {}
        args = request.get("args") or ()
        argument = request.get("argument")
        if argument:
            kwargs[argument] = request.get("payload")
        self.capture.reset()
        self._limit_cpu()
        started = time.perf_counter()
        try:
            value = fn(*args, **kwargs) if argument else fn(request.get("payload"), *args, **kwargs)
            values = list(value) if inspect.isgenerator(value) else [value]
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from user code are its errors, not ours
            duration = (time.perf_counter() - started) * 1000
            stdout, stderr = self.capture.collect()
            failure = {
                "ok": False,
                "kind": "error",
                "error": _one_line(exc),
                "error_type": type(exc).__name__,
                "traceback": _user_traceback(exc),
                "stdout": stdout,
                "stderr": stderr,
                "duration_ms": duration,
            }
            if isinstance(exc, CallFailed):  # not handled by the caller: the callee's error goes on up the chain
                failure["remote"] = exc.error
            return _frame(failure)
        duration = (time.perf_counter() - started) * 1000
        stdout, stderr = self.capture.collect()
        reply = {
            "ok": True,
            "values": values,
            "named": plugs,
            "stdout": stdout,
            "stderr": stderr,
            "duration_ms": duration,
        }
        if self._needs_recycle():
            reply["recycle"] = True
        try:
            encoded = _encode(reply).encode()
        except (TypeError, ValueError, RecursionError):
            encoded = b""
        if encoded and self.max_result_bytes and len(encoded) > self.max_result_bytes:
            # Only the slow path measures each value: every value becomes its own message downstream.
            for label, value in [(f"result of {name}", v) for v in values] + [
                (f"plugs[{key!r}] of {name}", v) for key, v in plugs.items()
            ]:
                size = len(_encode(value).encode())
                if size > self.max_result_bytes:
                    return _frame(
                        {
                            "ok": False,
                            "kind": "invalid_result",
                            "error": f"{label} is {size:,} bytes of JSON; the limit is {self.max_result_bytes:,} "
                            "(ELASTICCODE_MAX_MESSAGE_BYTES): pass a reference to the data instead",
                            "error_type": "ResultTooLarge",
                            "traceback": "",
                            "stdout": stdout,
                            "stderr": stderr,
                            "duration_ms": duration,
                        }
                    )
        if encoded:
            return encoded
        return _frame(
            {
                "ok": False,
                "kind": "invalid_result",
                "error": self._invalid(str(name), values, plugs),
                "error_type": "InvalidResult",
                "traceback": "",
                "stdout": stdout,
                "stderr": stderr,
                "duration_ms": duration,
            }
        )

    @staticmethod
    def _invalid(name: str, values: list[Any], plugs: dict[str, Any]) -> str:
        """Which value is not JSON, for the error message (the slow path only)."""
        candidates: list[tuple[str, Any]] = [(f"result of {name}", v) for v in values]
        candidates += [(f"plugs[{key!r}] of {name}", v) for key, v in plugs.items()]
        for label, value in candidates:
            try:
                _encode(value).encode()  # UTF-8 too: a lone surrogate is not text
            except (TypeError, ValueError, RecursionError) as exc:
                return f"{label} is not JSON: {exc}"
        return f"result of {name} is not JSON"

    def describe(self) -> dict[str, Any]:
        functions = []
        for name, fn in inspect.getmembers(self.module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != self.module.__name__:
                continue
            signature = inspect.signature(fn)
            parameters = []
            for p in signature.parameters.values():
                entry: dict[str, Any] = {"name": p.name, "kind": p.kind.name.lower()}
                if p.default is not inspect.Parameter.empty:
                    entry["default"] = _json_default(p.default)
                parameters.append(entry)
            functions.append(
                {
                    "name": name,
                    "signature": str(signature),
                    "parameters": parameters,
                    "accepts_plugs": "plugs" in signature.parameters,
                    "generator": inspect.isgeneratorfunction(fn),
                    "doc": inspect.getdoc(fn) or "",
                }
            )
        return {"ok": True, "functions": functions}

    def source(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request.get("function")
        fn = getattr(self.module, name, None) if isinstance(name, str) and not name.startswith("_") else None
        if not inspect.isfunction(fn):
            return {
                "ok": False,
                "kind": "error",
                "error": f"function {name} not found in module {self.module.__name__}",
            }
        try:
            lines, line = inspect.getsourcelines(fn)
        except (OSError, TypeError) as exc:
            return {"ok": False, "kind": "error", "error": f"no source for {name}: {exc}"}
        return {
            "ok": True,
            "source": "".join(lines),
            "file": _display_path(inspect.getsourcefile(fn) or ""),
            "line": line,
        }


def _display_path(filename: str) -> str:
    """The file relative to the sys.path entry it was imported from (`ext/sample.py`), never a host path."""
    if not filename:
        return ""
    filename = os.path.abspath(filename)
    best = ""
    for entry in sys.path:
        root = os.path.abspath(entry or ".")
        if filename.startswith(root.rstrip(os.sep) + os.sep) and len(root) > len(best):
            best = root
    return os.path.relpath(filename, best) if best else filename


def _load(module_name: str) -> tuple[Any, dict[str, Any] | None]:
    try:
        return importlib.import_module(module_name), None
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        # Only when the module itself (or a parent package) is missing; a missing dependency keeps its own message.
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            error = f"module {module_name} not found"
        else:
            error = _one_line(exc)
        return None, {"error": error, "error_type": type(exc).__name__, "traceback": _user_traceback(exc)}
    except BaseException as exc:  # whatever the module raised at import, SystemExit included
        return None, {"error": _one_line(exc), "error_type": type(exc).__name__, "traceback": _user_traceback(exc)}


def _api_module(runner: Runner) -> types.ModuleType:
    """`elasticcode` as user code sees it in the executor: call, calls and CallFailed, Girder's requests."""
    api = types.ModuleType("elasticcode", "Calls to other sockets of the same flow, from inside a function.")

    def call(socket: str, payload: Any = None, *args: Any) -> Any:
        """Run socket `socket` of this flow with `payload` (and `args`) and return its result; raises CallFailed
        when it fails (after its retries). The call is a durable message like any other; this waits for it."""
        return runner.request_calls([(socket, payload, *args)])[0]

    def calls(requests: Any) -> list[Any]:
        """Run several calls at once, `[("f", 1), ("g", 2, "x")]` (socket, payload, *args), and return their
        results in order; raises CallFailed for the first (in order) that failed."""
        return runner.request_calls(list(requests))

    api.call = call  # type: ignore[attr-defined]
    api.calls = calls  # type: ignore[attr-defined]
    api.CallFailed = CallFailed  # type: ignore[attr-defined]
    api.__all__ = ["call", "calls", "CallFailed"]  # type: ignore[attr-defined]
    return api


def main() -> int:
    here = os.path.dirname(RUNNER_FILE)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    parser = argparse.ArgumentParser()
    parser.add_argument("--module", required=True)
    parser.add_argument("--path", action="append", default=[])
    parser.add_argument("--capture-bytes", type=int, default=65536)
    parser.add_argument("--cpu-seconds", type=int, default=0)
    parser.add_argument("--max-result-bytes", type=int, default=0)
    options = parser.parse_args()

    # Private, non-inheritable protocol descriptors: user subprocesses get /dev/null and the capture files instead.
    channel = Channel(os.dup(0), os.dup(1))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    capture = Capture(options.capture_bytes)
    # A lone surrogate printed by user code is captured as its escape instead of failing the call.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    faulthandler.enable()  # a segfault in an extension leaves a Python traceback in the call's stderr
    sys.path[:0] = options.path
    runner = Runner(None, capture, options.cpu_seconds, options.max_result_bytes, channel)
    sys.modules["elasticcode"] = _api_module(runner)

    module, failure = _load(options.module)
    if failure is not None:
        channel.send({"ok": False, "kind": "load", **failure})
        return 1
    runner.module = module
    channel.send({"ok": True, "kind": "ready", "pid": os.getpid()})
    while True:
        try:
            request = channel.receive()
        except EOFError:
            return 0
        try:
            op = request.get("op") if isinstance(request, dict) else None
            if op == "call":
                channel.send_body(runner.call(request))
                continue
            if op == "describe":
                reply = runner.describe()
            elif op == "source":
                reply = runner.source(request)
            else:
                reply = {"ok": False, "kind": "error", "error": f"unknown op {op!r}"}
        except Exception as exc:  # a bug here must not take the warm process down
            reply = {"ok": False, "kind": "error", "error": f"runner: {_one_line(exc)}"}
        channel.send(reply)


if __name__ == "__main__":
    sys.exit(main())
