"""Lazy socket calls and their compositions, with the seed's (and Celery's chain/group/chord) semantics.

    pipeline([a("One"), b("Two")])        b(a("One"), "Two"): each result is the first argument of the next step
    parallel([a(1), b(2)])                 [a(1), b(2)], run at the same time; in a pipeline each gets the input
    funnel([a(1), b(2)])(c("x"))           c([a(1), b(2)], "x"): the list of results goes to the final call

Nothing runs until `.delay()` (send, get a Result) or `.get(timeout)` (send and wait). The whole composition
travels to the server as one tree and runs on the processors' workers: the client waits on one long poll that
returns the moment the last call finishes, with no polling interval. A failure anywhere raises CallFailed naming
the socket, where the call sits in the composition and the remote traceback.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flows.client.errors import CallFailed, CallTimeout, ClientError

if TYPE_CHECKING:
    from flows.client.client import Client
    from flows.client.objects import Socket

# The longest one request waits on the server (its limit); longer waits are several long polls in a row.
LONG_POLL = 60.0


class Composable:
    """Something that can run: a call, a pipeline, a parallel or a funnel."""

    def tree(self) -> dict[str, Any]:
        raise NotImplementedError

    def sockets(self) -> list[Socket]:
        raise NotImplementedError

    def _client(self) -> Client:
        clients = {id(socket.client): socket.client for socket in self.sockets()}
        if len(clients) != 1:
            raise ClientError("a composition's sockets must all come from the same Client (server)")
        return next(iter(clients.values()))

    def delay(self) -> Result:
        """Send it; returns at once with a Result to wait on."""
        client = self._client()
        answer = client.api.post("/api/workflows/", {"workflow": self.tree()})
        return Result(client, str(answer["id"]), self._processors())

    def get(self, timeout: float | None = None) -> Any:
        """Send it and wait for the result (`timeout` seconds, None: as long as it takes)."""
        client = self._client()
        deadline = None if timeout is None else time.monotonic() + timeout
        wait = LONG_POLL if deadline is None else max(0.0, min(LONG_POLL, timeout or 0.0))
        status, body = client.api.status_and_body(
            "POST", "/api/workflows/", json={"workflow": self.tree()}, params={"wait": f"{wait:.3f}"}, timeout=wait + 30
        )
        result = Result(client, str(body["id"]), self._processors())
        if status == 202:
            return result._wait(deadline, timeout)
        return result._settle(body)

    def _processors(self) -> list[str]:
        return sorted({str(socket.data.get("processor")) for socket in self.sockets() if socket.data.get("processor")})

    def __or__(self, other: Composable) -> Pipeline:
        """a(1) | b(2) is pipeline([a(1), b(2)])."""
        return pipeline([self, other])


class Call(Composable):
    """One lazy socket call: `socket(*args)`."""

    def __init__(self, socket: Socket, args: Sequence[Any]) -> None:
        self.socket = socket
        self.args = list(args)

    def tree(self) -> dict[str, Any]:
        return {"call": {"socket": self.socket.id, "args": self.args}}

    def sockets(self) -> list[Socket]:
        return [self.socket]

    def __repr__(self) -> str:
        return f"{self.socket.name}({', '.join(map(repr, self.args))})"


class _Many(Composable):
    kind = ""

    def __init__(self, steps: Sequence[Composable]) -> None:
        steps = list(steps)
        if not steps:
            raise ClientError(f"{self.kind}([]) needs at least one call")
        for step in steps:
            if not isinstance(step, Composable):
                raise TypeError(f"{self.kind}() takes socket calls and compositions, not {type(step).__name__}")
        self.steps = steps

    def tree(self) -> dict[str, Any]:
        return {self.kind: [step.tree() for step in self.steps]}

    def sockets(self) -> list[Socket]:
        return [socket for step in self.steps for socket in step.sockets()]

    def __repr__(self) -> str:
        return f"{self.kind}([{', '.join(map(repr, self.steps))}])"


class Pipeline(_Many):
    kind = "pipeline"


class Parallel(_Many):
    kind = "parallel"


class Funnel(Composable):
    """funnel([...])(final): the parallel results, as a list, are the final call's first argument."""

    def __init__(self, header: Parallel, final: Composable) -> None:
        self.header = header
        self.final = final

    def tree(self) -> dict[str, Any]:
        return {"funnel": {"parallel": self.header.tree()["parallel"], "final": self.final.tree()}}

    def sockets(self) -> list[Socket]:
        return self.header.sockets() + self.final.sockets()

    def __repr__(self) -> str:
        return f"funnel({self.header.steps!r})({self.final!r})"


class FunnelHeader:
    """What funnel([...]) returns: call it with the final step."""

    def __init__(self, steps: Sequence[Composable]) -> None:
        self.header = Parallel(steps)

    def __call__(self, final: Composable) -> Funnel:
        if not isinstance(final, Composable):
            raise TypeError(f"funnel([...])() takes the final socket call, not {type(final).__name__}")
        return Funnel(self.header, final)


def pipeline(steps: Sequence[Composable]) -> Pipeline:
    """Run the steps one after the other, each result the first argument of the next (Celery's chain)."""
    return Pipeline(steps)


def parallel(steps: Sequence[Composable]) -> Parallel:
    """Run the steps at the same time; the result is the list of their results, in order (Celery's group)."""
    return Parallel(steps)


def funnel(steps: Sequence[Composable]) -> FunnelHeader:
    """funnel(steps)(final): run the steps in parallel, then final with their results (Celery's chord)."""
    return FunnelHeader(steps)


class Result:
    """A sent composition: `.get(timeout)` waits for its result, `.ready()` tells without waiting."""

    def __init__(self, client: Client, id: str, processors: Sequence[str] = ()) -> None:
        self.client = client
        self.id = id
        self.processors = list(processors)  # ids, to say which one holds things up when time runs out
        self._answer: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Result({self.id!r})"

    def _poll(self, wait: float) -> dict[str, Any] | None:
        status, body = self.client.api.status_and_body(
            "GET", f"/api/workflows/{self.id}/", params={"wait": f"{wait:.3f}"}, timeout=wait + 30
        )
        return None if status == 202 else body

    def ready(self) -> bool:
        if self._answer is None:
            self._answer = self._poll(0.0)
        return self._answer is not None

    def get(self, timeout: float | None = None) -> Any:
        """The result; raises CallFailed when a call failed, CallTimeout when `timeout` seconds pass first."""
        return self._wait(None if timeout is None else time.monotonic() + timeout, timeout)

    def _wait(self, deadline: float | None, timeout: float | None) -> Any:
        while self._answer is None:
            left = LONG_POLL if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise CallTimeout(
                    f"no result within {timeout or 0:g} s; it is still running{self._holdup()} "
                    f"(Result({self.id!r}).get() waits again)"
                )
            self._answer = self._poll(min(LONG_POLL, left))
        return self._settle(self._answer)

    def _holdup(self) -> str:
        """Why it may be slow: processors of the composition that are not running (their messages wait)."""
        notes = []
        for processor_id in self.processors:
            try:
                processor = self.client.api.get(f"/api/processors/{processor_id}/")
            except ClientError:
                continue
            if processor.get("status") != "running":
                message = f": {processor['status_message']}" if processor.get("status_message") else ""
                notes.append(f"processor {processor['name']} is {processor['status']}{message}")
        return f"; {'; '.join(notes)}" if notes else ""

    def _settle(self, answer: dict[str, Any]) -> Any:
        self._answer = answer
        if answer.get("status") == "failed":
            raise CallFailed(answer.get("error") or {})
        return answer.get("result")
