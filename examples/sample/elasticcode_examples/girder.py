"""Girder's examples (seeds/004): functions that call other sockets of their flow from inside, so the graph
emerges from the call stack. Add each function as a socket of one processor (see the README's "Calls from inside
a function"); the names below are the sockets they call.

`elasticcode` is provided by the platform to the code it runs (it is not a package to install)."""

from __future__ import annotations

import time

from elasticcode import CallFailed, call, calls


def divide(a: float, b: float) -> float:
    return a / b


def ratio(n: float) -> float:
    """Girder's error chain: ratio(1) calls divide(1, 0); the ZeroDivisionError names both."""
    return call("divide", n, 0)


def double(n: float) -> float:
    return 2 * n


def half(n: float) -> float:
    """A call with an extra arg: divide's payload is n, its args (2,); the trace shows both."""
    return call("divide", n, 2)


def both(n: float) -> list[float]:
    """Two calls at once; their results in order."""
    return calls([("divide", n, 2), ("double", n)])


def safe_ratio(n: float) -> float | str:
    """A caller may catch a call's failure: CallFailed names the socket where it happened."""
    try:
        return call("divide", n, 0)
    except CallFailed as failure:
        return f"{failure.error_type} in {failure.socket}"


def bogosity(msec: int, jobnum: int, reclevel: int, numrecjobs: int, args: object) -> str:
    """Girder's re-entrant recursion: each request makes `reclevel` sub-requests, one level down, all at once."""
    reqs = [("bogosity", msec, i, reclevel - 1, numrecjobs, args) for i in range(reclevel)]
    vs = calls(reqs)
    time.sleep(msec / 1000)
    return f"Bogosity:{jobnum}:{msec}:{reclevel}:{args}:[{','.join(map(str, vs))}]"
