"""The executor's child side: stdlib only, run by the processor's own virtualenv python.

    python runner.py --module pkg.mod [--path DIR ...] [--capture-bytes N] [--cpu-seconds N]

It moves the protocol off fds 0 and 1 first (so a print, or a C library writing to fd 1, cannot corrupt it), points
fds 1 and 2 at capture files in the working directory, imports the module, and answers frames: a 4-byte big-endian
length and UTF-8 JSON, both ways. Requests: {"op": "call", "function", "payload", "args"}, {"op": "describe"},
{"op": "source", "function"}. This file must not import anything outside the standard library.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import resource
import struct
import sys
import time
import traceback
from typing import Any

HEADER = struct.Struct(">I")


class Channel:
    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.reader = os.fdopen(read_fd, "rb", buffering=0)
        self.writer = os.fdopen(write_fd, "wb", buffering=0)

    def _read_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.reader.read(n)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def receive(self) -> dict[str, Any]:
        (size,) = HEADER.unpack(self._read_exact(HEADER.size))
        return json.loads(self._read_exact(size))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, allow_nan=False, separators=(",", ":")).encode()
        self.writer.write(HEADER.pack(len(body)) + body)


class Capture:
    """fd-level capture of stdout and stderr, per call, bounded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.files = {fd: open(f".ec-{name}", "w+b") for fd, name in ((1, "stdout"), (2, "stderr"))}  # noqa: SIM115
        for fd, f in self.files.items():
            os.dup2(f.fileno(), fd)

    def reset(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for f in self.files.values():
            f.seek(0)
            f.truncate()
            os.lseek(f.fileno(), 0, os.SEEK_SET)

    def collect(self) -> tuple[str, str]:
        sys.stdout.flush()
        sys.stderr.flush()
        out = []
        for fd in (1, 2):
            size = os.lseek(fd, 0, os.SEEK_CUR)
            if size == 0:
                out.append("")
                continue
            data = os.pread(fd, min(size, self.limit), 0)
            text = data.decode(errors="replace")
            if size > self.limit:
                text += f"\n[… truncated: {size - self.limit} more bytes]"
            out.append(text)
        return out[0], out[1]


def _trimmed_traceback(exc: BaseException) -> str:
    """The user's frames only: drop the runner's own frames at the top."""
    frames = traceback.extract_tb(exc.__traceback__)
    keep = [f for f in frames if os.path.abspath(f.filename) != os.path.abspath(__file__)]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(keep)]
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Runner:
    def __init__(self, module: Any, capture: Capture, cpu_seconds: int) -> None:
        self.module = module
        self.capture = capture
        self.cpu_seconds = cpu_seconds

    def _limit_cpu(self) -> None:
        if self.cpu_seconds <= 0:
            return
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = int(usage.ru_utime + usage.ru_stime) + 1
        _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = used + self.cpu_seconds
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request.get("function", "")
        fn = getattr(self.module, name, None) if not name.startswith("_") else None
        if not callable(fn):
            return {
                "ok": False,
                "kind": "error",
                "error": f"function {name} not found in module {self.module.__name__}",
                "error_type": "LookupError",
                "traceback": "",
            }
        kwargs: dict[str, Any] = {}
        plugs: dict[str, Any] = {}
        try:
            if "plugs" in inspect.signature(fn).parameters:
                kwargs["plugs"] = plugs
        except (TypeError, ValueError):
            pass
        self.capture.reset()
        self._limit_cpu()
        started = time.perf_counter()
        try:
            value = fn(request.get("payload"), *(request.get("args") or []), **kwargs)
            values = list(value) if inspect.isgenerator(value) else [value]
        except Exception as exc:
            stdout, stderr = self.capture.collect()
            return {
                "ok": False,
                "kind": "error",
                "error": _one_line(exc),
                "error_type": type(exc).__name__,
                "traceback": _trimmed_traceback(exc),
                "stdout": stdout,
                "stderr": stderr,
                "duration_ms": (time.perf_counter() - started) * 1000,
            }
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
        try:
            json.dumps(reply, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return {
                "ok": False,
                "kind": "invalid_result",
                "error": f"result of {name} is not JSON: {exc}",
                "error_type": "TypeError",
                "traceback": "",
                "stdout": stdout,
                "stderr": stderr,
                "duration_ms": duration,
            }
        return reply

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
                    try:
                        json.dumps(p.default)
                        entry["default"] = p.default
                    except (TypeError, ValueError):
                        entry["default"] = repr(p.default)
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
        fn = getattr(self.module, request.get("function", ""), None)
        if not inspect.isfunction(fn):
            return {"ok": False, "kind": "error", "error": f"function {request.get('function')} not found"}
        lines, line = inspect.getsourcelines(fn)
        return {"ok": True, "source": "".join(lines), "file": inspect.getsourcefile(fn) or "", "line": line}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--module", required=True)
    parser.add_argument("--path", action="append", default=[])
    parser.add_argument("--capture-bytes", type=int, default=65536)
    parser.add_argument("--cpu-seconds", type=int, default=0)
    args = parser.parse_args()
    channel = Channel(os.dup(0), os.dup(1))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    capture = Capture(args.capture_bytes)
    sys.path[:0] = args.path
    try:
        module = importlib.import_module(args.module)
    except ModuleNotFoundError as exc:
        missing = exc.name or args.module
        error = f"module {args.module} not found" if args.module.startswith(missing) else _one_line(exc)
        channel.send({"ok": False, "kind": "load", "error": error, "traceback": _trimmed_traceback(exc)})
        return 1
    except BaseException as exc:  # a module that fails at import: report it, whatever it raised
        channel.send(
            {
                "ok": False,
                "kind": "load",
                "error": f"importing {args.module} failed: {_one_line(exc)}",
                "traceback": _trimmed_traceback(exc),
            }
        )
        return 1
    runner = Runner(module, capture, args.cpu_seconds)
    channel.send({"ok": True, "kind": "ready", "pid": os.getpid()})
    while True:
        try:
            request = channel.receive()
        except EOFError:
            return 0
        op = request.get("op")
        if op == "call":
            reply = runner.call(request)
        elif op == "describe":
            reply = runner.describe()
        elif op == "source":
            reply = runner.source(request)
        else:
            reply = {"ok": False, "kind": "error", "error": f"unknown op {op!r}"}
        channel.send(reply)


if __name__ == "__main__":
    sys.exit(main())
