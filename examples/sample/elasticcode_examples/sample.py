"""Functions in the spirit of the original promises (do_something, do_this), plus a generator, a function that
raises, and one that chooses its plug.

A processor function is called as fn(payload, *args). Its return value travels along the socket's result plugs;
a generator's every yielded value is its own message; a function with a `plugs` keyword may send a value along one
named plug with plugs["name"] = value. Functions may run more than once for one message after a crash, so keep
them idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any


def _said(message: Any, more: tuple[Any, ...]) -> str:
    return f"{message} + {', '.join(map(str, more))}" if more else str(message)


def do_something(message: Any, *more: Any) -> str:
    """Say what we got. In an SDK pipeline the previous result comes first and the call's own arguments after it:
    do_something("One") | do_something("Two") gives "Something: Something: One + Two"."""
    return f"Something: {_said(message, more)}"


def do_this(message: Any, *more: Any) -> str:
    """Say what we got, differently."""
    return f"This: {_said(message, more)}"


def slowly(message: Any, seconds: float = 0.5) -> Any:
    """Give the message back after `seconds` (at most 60): to watch parallel work and timeouts."""
    time.sleep(min(max(float(seconds), 0.0), 60.0))
    return message


def numbers(payload: Any) -> Iterator[int]:
    """Stream 1..n (n = the payload, or its "n"): one message per number."""
    n = int(payload.get("n", 3) if isinstance(payload, dict) else payload or 3)
    yield from range(1, n + 1)


def square(n: int) -> int:
    return n * n


def fail(payload: Any) -> None:
    """Always raises: the error travels along error plugs, or ends in the dead-letter list."""
    raise ValueError(f"cannot handle {payload!r}")


def triage(payload: Any, plugs: dict[str, Any]) -> Any:
    """Numbers go to the plug named "numbers", everything else along the other result plugs."""
    if isinstance(payload, int | float):
        plugs["numbers"] = payload
        return None
    return payload


def report_error(error: dict[str, Any]) -> str:
    """An error plug's target: receives {"socket", "error", "traceback", "payload", ...}."""
    return f"{error.get('socket')} failed: {error.get('error')}"
