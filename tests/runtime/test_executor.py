"""The executor: a warm runner subprocess that runs user code, with its limits, capture, crashes and timeouts.

No Django database here; only ELASTICCODE_* settings are read. User modules are written into tmp_path and run with
the project's own python (package isolation of venvs is tested with the runtime tests).
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.runtime import executor as executor_module
from flows.runtime.executor import Executor, ExecutorError, Limits

MODULE = '''
def repeat(n):
    return "y" * n

import os
import signal
import sys
import time
from json import dumps


def no_op(payload):
    return payload


def echo(payload):
    return payload


def nothing(payload):
    print("side effect only")


def add(payload, a, b=0):
    return payload + a + b


def count(payload):
    for i in range(payload):
        yield i


def fan(payload, plugs):
    plugs["double"] = payload * 2
    plugs["listed"] = [payload]
    return payload


def fan_kwargs(payload, **kwargs):
    return sorted(kwargs)


def boom(payload):
    return _inner(payload)


def _inner(payload):
    raise ValueError(f"bad payload {payload}")


def leave(payload):
    sys.exit(2)


def a_set(payload):
    return {1, 2}


def not_a_number(payload):
    return float("nan")


def bad_plug(payload, plugs):
    plugs["out"] = object()
    return payload


def chatty(payload):
    print("hello from print")
    sys.stderr.write("hello from stderr\\n")
    os.write(1, b"raw write to fd 1\\n")
    os.write(2, b"raw write to fd 2\\n")
    return "still fine"


def loud(payload):
    print("x" * payload)
    return payload


def sleepy(payload):
    time.sleep(payload)
    return payload


def exits(payload):
    os._exit(3)


def killed(payload):
    os.kill(os.getpid(), signal.SIGKILL)


def hog(payload):
    block = bytearray(payload * 1024 * 1024)
    return len(block)


def burn(payload):
    end = time.process_time() + payload
    while time.process_time() < end:
        pass
    return payload


def spin(payload):
    while True:
        pass


def files(payload):
    handles = [open(os.devnull) for _ in range(payload)]
    return len(handles)


def environment(payload):
    return dict(os.environ)


def where(payload):
    import tempfile

    return {"cwd": os.getcwd(), "home": os.path.expanduser("~"), "tmp": tempfile.gettempdir()}


def spawn(payload):
    import subprocess

    return subprocess.Popen(["sleep", "60"]).pid


def documented(payload, n=2, *rest, flag=None, when=time.monotonic, plugs=None):
    """Multiply the payload.

    More words.
    """
    return payload * n
'''


def limits(**overrides: int) -> Limits:
    values = {"memory_mb": 1024, "cpu_seconds": 30, "open_files": 256, "capture_bytes": 65536}
    values.update(overrides)
    return Limits(**values)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., Executor]]:
    """make(source=MODULE, module="ext.sample", env=None, **limits) -> an Executor, closed after the test."""
    created: list[Executor] = []

    def make(
        source: str = MODULE, module: str = "ext.sample", env: dict[str, str] | None = None, **overrides: int
    ) -> Executor:
        package = tmp_path / "ext"
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text("")
        (package / "sample.py").write_text(textwrap.dedent(source))
        executor = Executor(
            sys.executable,
            module,
            workdir=tmp_path / "work",
            limits=limits(**overrides),
            extra_path=[str(tmp_path)],
            env=env,
        )
        created.append(executor)
        return executor

    yield make
    for executor in created:
        executor.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- calls ---------------------------------------------------------------------------------------------------------


def test_it_returns_a_plain_result(make: Callable[..., Executor]) -> None:
    outcome = make().call("echo", {"n": 1, "s": "é"}, timeout=10)
    assert outcome.ok
    assert outcome.kind == "ok"
    assert outcome.values == [{"n": 1, "s": "é"}]
    assert outcome.named == {}
    assert outcome.duration_ms >= 0


def test_it_returns_none_as_one_result(make: Callable[..., Executor]) -> None:
    outcome = make().call("nothing", 1, timeout=10)
    assert outcome.ok
    assert outcome.values == [None]


def test_it_passes_args_after_the_payload(make: Callable[..., Executor]) -> None:
    executor = make()
    assert executor.call("add", 1, [10, 100], timeout=10).values == [111]
    assert executor.call("add", 1, [10], timeout=10).values == [11]


def test_a_named_argument_takes_the_payload_and_args_fill_the_positions(make: Callable[..., Executor]) -> None:
    executor = make()
    assert executor.call("add", 100, [1, 10], timeout=10, argument="b").values == [111]
    missing = executor.call("add", 5, [], timeout=10, argument="payload")
    assert not missing.ok and "missing 1 required positional argument: 'a'" in missing.error
    outcome = executor.call("add", 5, [], timeout=10, argument="nope")
    assert not outcome.ok and "unexpected keyword argument 'nope'" in outcome.error


def test_it_consumes_a_generator_into_one_result_per_value(make: Callable[..., Executor]) -> None:
    executor = make()
    assert executor.call("count", 3, timeout=10).values == [0, 1, 2]
    assert executor.call("count", 0, timeout=10).values == []


def test_it_passes_a_fresh_plugs_dict_and_returns_what_was_put_in_it(make: Callable[..., Executor]) -> None:
    executor = make()
    first = executor.call("fan", 4, timeout=10)
    assert first.values == [4]
    assert first.named == {"double": 8, "listed": [4]}
    assert executor.call("fan", 1, timeout=10).named == {"double": 2, "listed": [1]}
    # Only a parameter named plugs gets them; **kwargs does not.
    assert executor.call("fan_kwargs", 1, timeout=10).values == [[]]


def test_it_reports_a_raising_function_with_the_users_traceback(make: Callable[..., Executor], tmp_path: Path) -> None:
    executor = make()
    outcome = executor.call("boom", 7, timeout=10)
    assert not outcome.ok
    assert outcome.kind == "error"
    assert outcome.error == "ValueError: bad payload 7"
    assert outcome.error_type == "ValueError"
    raise_line = MODULE.splitlines().index('    raise ValueError(f"bad payload {payload}")') + 1
    assert f'File "{tmp_path / "ext" / "sample.py"}", line {raise_line}, in _inner' in outcome.traceback
    assert ", in boom" in outcome.traceback
    assert "runner.py" not in outcome.traceback
    assert outcome.traceback.startswith("Traceback (most recent call last):")
    # The warm process is still the same one.
    pid = executor.pid
    assert executor.call("echo", 1, timeout=10).values == [1]
    assert executor.pid == pid


def test_it_reports_sys_exit_in_user_code_as_an_error_and_keeps_running(make: Callable[..., Executor]) -> None:
    executor = make()
    executor.call("echo", 1, timeout=10)
    pid = executor.pid
    outcome = executor.call("leave", 1, timeout=10)
    assert outcome.kind == "error"
    assert outcome.error_type == "SystemExit"
    assert executor.call("echo", 2, timeout=10).values == [2]
    assert executor.pid == pid


def test_it_rejects_a_result_that_is_not_json(make: Callable[..., Executor]) -> None:
    executor = make()
    outcome = executor.call("a_set", 1, timeout=10)
    assert not outcome.ok
    assert outcome.kind == "invalid_result"
    assert outcome.error == "result of a_set is not JSON: Object of type set is not JSON serializable"
    nan = executor.call("not_a_number", 1, timeout=10)
    assert nan.kind == "invalid_result"
    assert nan.error.startswith("result of not_a_number is not JSON: Out of range float values")
    plug = executor.call("bad_plug", 1, timeout=10)
    assert plug.kind == "invalid_result"
    assert plug.error == "plugs['out'] of bad_plug is not JSON: Object of type object is not JSON serializable"
    assert executor.call("echo", 1, timeout=10).ok


def test_it_reports_an_unknown_or_private_function(make: Callable[..., Executor]) -> None:
    executor = make()
    outcome = executor.call("nope", 1, timeout=10)
    assert outcome.kind == "error"
    assert outcome.error == "function nope not found in module ext.sample"
    assert executor.call("_inner", 1, timeout=10).error == "function _inner not found in module ext.sample"
    assert executor.call("os", 1, timeout=10).kind == "error"  # a module attribute that is not a function


def test_it_rejects_a_payload_over_the_message_limit_before_sending(
    make: Callable[..., Executor], settings: Any
) -> None:
    settings.ELASTICCODE_MAX_MESSAGE_BYTES = 1000
    executor = make()
    outcome = executor.call("echo", "x" * 2000, timeout=10)
    assert outcome.kind == "error"
    assert "2,002 bytes" in outcome.error
    assert "ELASTICCODE_MAX_MESSAGE_BYTES" in outcome.error
    assert executor.pid is None  # nothing was started for it
    assert executor.call("echo", "x" * 900, timeout=10).values == ["x" * 900]


def test_it_rejects_a_result_over_the_message_limit(make: Callable[..., Executor], settings: Any) -> None:
    settings.ELASTICCODE_MAX_MESSAGE_BYTES = 1000
    executor = make()
    grown = executor.call("count", 3, timeout=10)  # small values pass
    assert grown.ok
    big = executor.call("echo", "x" * 900, timeout=10)
    assert big.ok
    outcome = executor.call("repeat", 5000, timeout=10)
    assert outcome.kind == "invalid_result"
    assert (
        "result of repeat is 5,002 bytes of JSON" in outcome.error and "ELASTICCODE_MAX_MESSAGE_BYTES" in outcome.error
    )


# -- start ---------------------------------------------------------------------------------------------------------


def test_it_raises_a_readable_error_when_the_module_is_missing(make: Callable[..., Executor]) -> None:
    executor = make(module="ext.missing")
    with pytest.raises(ExecutorError) as error:
        executor.start()
    assert str(error.value) == f"module ext.missing not found at {sys.executable}"
    assert executor.pid is None
    # A lazy start from call raises the same way.
    with pytest.raises(ExecutorError, match=r"module ext\.missing not found"):
        executor.call("echo", 1, timeout=10)


def test_it_raises_the_import_error_of_a_broken_module(make: Callable[..., Executor]) -> None:
    executor = make("import os\nraise RuntimeError('bad config')\n")
    with pytest.raises(ExecutorError) as error:
        executor.start()
    assert str(error.value) == "importing ext.sample failed: RuntimeError: bad config"
    assert "sample.py" in error.value.traceback
    assert "runner.py" not in error.value.traceback


def test_it_names_a_missing_dependency_rather_than_the_module(make: Callable[..., Executor]) -> None:
    executor = make("import no_such_dependency_xyz\n")
    with pytest.raises(ExecutorError) as error:
        executor.start()
    assert str(error.value) == (
        "importing ext.sample failed: ModuleNotFoundError: No module named 'no_such_dependency_xyz'"
    )


def test_it_reports_a_module_that_kills_its_process_at_import(make: Callable[..., Executor]) -> None:
    executor = make("import os, sys\nsys.stderr.write('giving up\\n')\nos._exit(4)\n")
    with pytest.raises(ExecutorError) as error:
        executor.start()
    assert "exit code 4 before it was ready" in str(error.value)
    assert "giving up" in str(error.value)


def test_it_raises_when_the_python_does_not_exist(make: Callable[..., Executor], tmp_path: Path) -> None:
    executor = Executor(tmp_path / "venv" / "bin" / "python", "ext.sample", workdir=tmp_path / "w", limits=limits())
    with pytest.raises(ExecutorError, match=r"cannot start .*/venv/bin/python: No such file or directory"):
        executor.start()


def test_it_does_not_shadow_user_modules_with_its_own_files(make: Callable[..., Executor], tmp_path: Path) -> None:
    # flows/runtime/ has a worker.py; the runner's directory must not be on the child's sys.path.
    (tmp_path / "worker.py").write_text("def which(payload):\n    return __file__\n")
    executor = make(module="worker")
    assert executor.call("which", 1, timeout=10).values == [str(tmp_path / "worker.py")]


# -- capture -------------------------------------------------------------------------------------------------------


def test_it_captures_stdout_and_stderr_per_call_without_breaking_the_protocol(make: Callable[..., Executor]) -> None:
    executor = make()
    outcome = executor.call("chatty", 1, timeout=10)
    assert outcome.values == ["still fine"]
    assert "hello from print\n" in outcome.stdout
    assert "raw write to fd 1\n" in outcome.stdout
    assert "hello from stderr\n" in outcome.stderr
    assert "raw write to fd 2\n" in outcome.stderr
    quiet = executor.call("echo", 2, timeout=10)
    assert (quiet.values, quiet.stdout, quiet.stderr) == ([2], "", "")


def test_it_bounds_the_captured_output(make: Callable[..., Executor]) -> None:
    executor = make(capture_bytes=100)
    outcome = executor.call("loud", 10_000, timeout=10)
    assert outcome.values == [10_000]
    assert outcome.stdout.startswith("x" * 100 + "\n[… truncated]")
    assert len(outcome.stdout) < 200
    assert executor.call("echo", 1, timeout=10).stdout == ""


def test_it_captures_output_on_errors_too(make: Callable[..., Executor]) -> None:
    source = "def noisy(payload):\n    print('before the fall')\n    raise KeyError(payload)\n"
    outcome = make(source).call("noisy", "k", timeout=10)
    assert outcome.kind == "error"
    assert outcome.error == "KeyError: 'k'"
    assert outcome.stdout == "before the fall\n"


# -- timeouts and crashes ------------------------------------------------------------------------------------------


def test_it_kills_a_call_that_runs_too_long_and_starts_afresh(make: Callable[..., Executor]) -> None:
    executor = make()
    executor.start()
    first = executor.pid
    assert first is not None
    started = time.monotonic()
    outcome = executor.call("sleepy", 30, timeout=1)
    assert time.monotonic() - started < 5
    assert outcome.kind == "timeout"
    assert outcome.error == "sleepy did not finish within 1 s; the executor was restarted"
    assert not alive(first)
    assert executor.pid is None
    assert executor.call("echo", "again", timeout=10).values == ["again"]
    assert executor.pid not in (None, first)


def test_it_reports_an_exit_as_a_crash_and_restarts(make: Callable[..., Executor]) -> None:
    executor = make()
    executor.start()
    first = executor.pid
    outcome = executor.call("exits", 1, timeout=10)
    assert outcome.kind == "crash"
    assert "executor died with exit code 3 while running exits" in outcome.error
    assert executor.call("echo", 1, timeout=10).values == [1]
    assert executor.pid not in (None, first)


def test_it_reports_a_sigkill_as_a_crash_and_restarts(make: Callable[..., Executor]) -> None:
    executor = make()
    executor.start()
    first = executor.pid
    outcome = executor.call("killed", 1, timeout=10)
    assert outcome.kind == "crash"
    assert "executor died with SIGKILL" in outcome.error
    assert executor.call("echo", 1, timeout=10).values == [1]
    assert executor.pid not in (None, first)


def test_it_restarts_a_process_that_died_between_calls(make: Callable[..., Executor]) -> None:
    executor = make()
    executor.start()
    first = executor.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    time.sleep(0.2)
    # Not blamed on the next call: it runs in a new process.
    assert executor.call("echo", 1, timeout=10).values == [1]
    assert executor.pid not in (None, first)


def test_close_is_idempotent_and_kills_what_user_code_started(make: Callable[..., Executor]) -> None:
    executor = make()
    child = executor.call("spawn", 1, timeout=10).values[0]
    assert alive(child)
    executor.close()
    executor.close()
    assert executor.pid is None
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)  # the sleep's parent (the runner) is gone; init reaps it
    assert not alive(child)


# -- limits --------------------------------------------------------------------------------------------------------


def test_it_limits_memory(make: Callable[..., Executor]) -> None:
    executor = make(memory_mb=256)
    outcome = executor.call("hog", 2048, timeout=30)
    assert not outcome.ok
    assert (outcome.kind, outcome.error_type) == ("error", "MemoryError") or outcome.kind == "crash"
    assert executor.call("hog", 16, timeout=30).values == [16 * 1024 * 1024]


def test_it_limits_cpu_time_per_call(make: Callable[..., Executor]) -> None:
    executor = make(cpu_seconds=1)
    # Three calls of 0.7 s CPU each: over a second in total, but each within its own budget.
    for _ in range(3):
        assert executor.call("burn", 0.7, timeout=30).values == [0.7]
    outcome = executor.call("spin", 1, timeout=60)
    assert outcome.kind == "crash"
    assert "SIGXCPU (CPU time limit exceeded)" in outcome.error
    assert executor.call("echo", 1, timeout=10).values == [1]


def test_it_replaces_a_process_whose_lifetime_cpu_nears_the_hard_limit(
    make: Callable[..., Executor], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hard limit of 2 s with a 1 s budget per call: any CPU used at all leaves too little for the next call.
    monkeypatch.setattr(executor_module, "CPU_HARD_MIN", 0)
    monkeypatch.setattr(executor_module, "CPU_HARD_FACTOR", 2)
    executor = make(cpu_seconds=1)
    assert executor.call("burn", 0.1, timeout=30).ok
    first = executor.pid
    assert executor.call("echo", 1, timeout=10).values == [1]
    assert executor.pid not in (None, first)


def test_it_limits_open_files(make: Callable[..., Executor]) -> None:
    executor = make(open_files=32)
    assert executor.call("files", 5, timeout=10).values == [5]
    outcome = executor.call("files", 100, timeout=10)
    assert outcome.kind == "error"
    assert outcome.error_type == "OSError"
    assert "Too many open files" in outcome.error


def test_it_scrubs_the_environment(make: Callable[..., Executor], monkeypatch: pytest.MonkeyPatch) -> None:
    parent = {
        "DATABASE_URL": os.environ.get("DATABASE_URL") or "postgres://user:pw@db/x",
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://secret@cache/0",
        "SECRET_KEY": "parent-secret",
    }
    for key, value in parent.items():
        monkeypatch.setenv(key, value)
    executor = make(env={"SECRET_KEY": "x", "FOO": "bar", "api_token": "t", "DB_PASSWORD": "p", "MY_REDIS_URL": "r"})
    env = executor.call("environment", 1, timeout=10).values[0]
    assert env["FOO"] == "bar"
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "api_token", "DB_PASSWORD", "MY_REDIS_URL"):
        assert key not in env
    for value in parent.values():
        assert not any(value in v for v in env.values())
    assert env["PATH"] == f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
    assert env["LANG"] == "C.UTF-8"
    assert env["PYTHONNOUSERSITE"] == "1"
    allowed = {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONUNBUFFERED", "PYTHONNOUSERSITE", "USER", "LOGNAME"}
    assert set(env) <= allowed | {"FOO", "LC_CTYPE"}


def test_it_runs_in_its_working_directory(make: Callable[..., Executor], tmp_path: Path) -> None:
    places = make().call("where", 1, timeout=10).values[0]
    work = tmp_path / "work"
    assert places == {"cwd": str(work), "home": str(work), "tmp": str(work / "tmp")}
    assert (work / "tmp").is_dir()


def test_limits_come_from_settings(settings: Any) -> None:
    settings.ELASTICCODE_EXECUTOR_MEMORY_MB = 300
    settings.ELASTICCODE_EXECUTOR_CPU_SECONDS = 7
    settings.ELASTICCODE_EXECUTOR_OPEN_FILES = 64
    settings.ELASTICCODE_CAPTURE_BYTES = 1000
    assert Limits.from_settings() == Limits(memory_mb=300, cpu_seconds=7, open_files=64, capture_bytes=1000)


# -- describe and source -------------------------------------------------------------------------------------------


def test_it_describes_the_modules_public_functions(make: Callable[..., Executor]) -> None:
    functions = {f["name"]: f for f in make().describe()}
    assert "dumps" not in functions  # imported, not defined here
    assert "_inner" not in functions
    assert {"echo", "count", "fan", "documented"} <= set(functions)
    documented = functions["documented"]
    assert documented["signature"].startswith("(payload, n=2, *rest, flag=None, when=<built-in function monotonic>")
    assert documented["parameters"][:4] == [
        {"name": "payload", "kind": "positional_or_keyword"},
        {"name": "n", "kind": "positional_or_keyword", "default": 2},
        {"name": "rest", "kind": "var_positional"},
        {"name": "flag", "kind": "keyword_only", "default": None},
    ]
    assert documented["parameters"][4] == {
        "name": "when",
        "kind": "keyword_only",
        "default": "<built-in function monotonic>",
    }
    assert documented["accepts_plugs"] is True
    assert documented["generator"] is False
    assert documented["doc"] == "Multiply the payload.\n\nMore words."
    assert functions["count"]["generator"] is True
    assert functions["fan"]["accepts_plugs"] is True
    assert functions["echo"]["accepts_plugs"] is False


def test_it_gives_the_source_of_a_function(make: Callable[..., Executor]) -> None:
    executor = make()
    source = executor.source("add")
    assert source == {
        "source": "def add(payload, a, b=0):\n    return payload + a + b\n",
        "file": "ext/sample.py",
        "line": textwrap.dedent(MODULE).splitlines().index("def add(payload, a, b=0):") + 1,
    }
    with pytest.raises(ExecutorError, match=r"function nope not found in module ext\.sample"):
        executor.source("nope")


# -- cost ----------------------------------------------------------------------------------------------------------


def test_round_trip_cost_of_a_no_op(make: Callable[..., Executor]) -> None:
    """Prints the mean round trip; not a timer that can fail (DESIGN §9). Run with -s to see it."""
    executor = make()
    payload = {"id": "0" * 32, "n": 1}
    for _ in range(200):  # warm up
        executor.call("no_op", payload, timeout=10)
    calls = 2000
    started = time.perf_counter()
    for _ in range(calls):
        outcome = executor.call("no_op", payload, timeout=10)
    elapsed = time.perf_counter() - started
    assert outcome.values == [payload]
    print(f"\nexecutor no-op round trip: {elapsed / calls * 1e6:.1f} µs mean over {calls} calls")
