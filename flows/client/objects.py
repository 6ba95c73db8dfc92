"""Processor, Socket and Queue: get-or-create over REST, by name, as in the seed's Python API.

    processor = Processor(name="proc1", module="pyfi.processors.sample", branch="main", gitrepo="https://…")
    do_something = Socket(name="proc1.socket1", processor=processor, queue={"name": "pyfi.queue1"},
                          task="do_something")
    do_something("Hello World !").get()      # a lazy call: .get(timeout) waits for the result, .delay() sends

An object that exists is used as it is (nothing is changed); a missing one is created, in the given flow or the
caller's default flow. `Socket(name=...)` alone finds an existing socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flows.client.client import Client, created_or_existing, default_client
from flows.client.compose import Call
from flows.client.errors import ClientError
from flows.client.runs import MapRun, tap


class Queue:
    """A named queue sockets may share (`Queue(name="pyfi.queue1")`)."""

    def __init__(
        self,
        name: str,
        *,
        max_length: int | None = None,
        message_ttl: int | None = None,
        client: Client | None = None,
    ) -> None:
        self.client = client or default_client()
        self.name = name
        existing = self.client.one("queues", name)
        if existing is None:
            body = {"name": name, "max_length": max_length, "message_ttl": message_ttl}
            # A queue nobody's socket uses yet is invisible to users without READ_QUEUE: a 409 means it exists.
            existing = created_or_existing(lambda: self.client.api.post("/api/queues/", body)) or {"name": name}
        self.data: dict[str, Any] = existing

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"


class Processor:
    """A processor (code from a git repository), found by name in `flow` or created there.

    `gitrepo`/`git_url` and `branch`/`ref` are the same fields under the seed's and the API's names."""

    def __init__(
        self,
        name: str,
        *,
        module: str | None = None,
        gitrepo: str | None = None,
        git_url: str | None = None,
        branch: str | None = None,
        ref: str | None = None,
        subdirectory: str | None = None,
        concurrency: int | None = None,
        autoscale_max: int | None = None,
        flow: str | None = None,
        start: bool = True,
        client: Client | None = None,
    ) -> None:
        self.client = client or default_client()
        self.name = name
        flow_id = self.client.flow_id(flow)
        existing = self.client.one("processors", name, flow=flow_id)
        if existing is None:
            url = git_url or gitrepo
            if not (url and module):
                raise ClientError(f"no processor {name} in this flow: give gitrepo= and module= to create it")
            body: dict[str, Any] = {"flow": flow_id, "name": name, "git_url": url, "module": module}
            if branch or ref:
                body["ref"] = ref or branch
            if concurrency:
                body["concurrency"] = concurrency
            if autoscale_max:
                body["autoscale_max"] = autoscale_max
            if subdirectory:
                body["subdirectory"] = subdirectory
            existing = created_or_existing(lambda: self.client.api.post("/api/processors/", body))
            if existing is None:
                existing = self.client.one("processors", name, flow=flow_id)
            if start and existing is not None:
                existing = self.client.api.post(f"/api/processors/{existing['id']}/start")
        if existing is None:
            raise ClientError(f"processor {name} could not be created or found")
        self.data: dict[str, Any] = existing
        self.id = str(existing["id"])
        self.flow = str(existing["flow"])

    def __repr__(self) -> str:
        return f"Processor({self.name!r})"


class Socket:
    """A socket (one function of a processor, fronted by a queue). Calling it makes a lazy call."""

    def __init__(
        self,
        name: str,
        *,
        processor: Processor | None = None,
        task: str | None = None,
        function: str | None = None,
        queue: Queue | dict[str, Any] | str | None = None,
        flow: str | None = None,
        client: Client | None = None,
        pure: bool = False,
        memo_ttl: int | None = None,
    ) -> None:
        """`pure=True` (with `memo_ttl` seconds) makes a new socket memoize its results; an existing one keeps its
        settings."""
        self.client = processor.client if processor is not None else (client or default_client())
        self.name = name
        flow_id = processor.flow if processor is not None else (self.client.flow_id(flow) if flow else None)
        existing = self.client.one("sockets", name, flow=flow_id)
        if existing is None:
            if processor is None or not (task or function):
                raise ClientError(
                    f"no socket named {name} that you may see: give processor= and task= to create it"
                    if processor is None
                    else f"no socket {name} yet: give task= (the function) to create it"
                )
            body: dict[str, Any] = {"processor": processor.id, "name": name, "function": task or function}
            if pure:
                body.update(pure=True, memo_ttl=memo_ttl)
            queue_name = (
                queue.name if isinstance(queue, Queue) else queue.get("name") if isinstance(queue, dict) else queue
            )
            if queue_name:
                body["queue"] = queue_name
            existing = created_or_existing(lambda: self.client.api.post("/api/sockets/", body))
            if existing is None:
                existing = self.client.one("sockets", name, flow=flow_id)
        if existing is None:
            raise ClientError(f"socket {name} could not be created or found")
        self.data: dict[str, Any] = existing
        self.id = str(existing["id"])

    def __call__(self, *args: Any, **kwargs: Any) -> Call:
        """A lazy call of the socket's function with these arguments (nothing is sent yet)."""
        if kwargs:
            raise TypeError(
                f"{self.name}(): keyword arguments do not travel in a message; pass them positionally or in a dict"
            )
        return Call(self, args)

    def map(self, parcels: list[Any], *, reduce: str = "sum", wait: float = 0) -> MapRun:
        """Send each parcel to this socket as one map run, a receipt each (`MapRun.status()`, `.retry()`)."""
        wait = min(max(wait, 0.0), 300.0)
        data = self.client.api.request(
            "POST",
            f"/api/sockets/{self.id}/map/",
            json={"parcels": list(parcels), "reduce": reduce},
            params={"wait": wait},
            timeout=wait + 30,
        )
        return MapRun(self.client, data)

    def tap(self, *, seconds: float = 10.0, sample: float = 1.0, rate: float = 10.0) -> Iterator[dict[str, Any]]:
        """The messages arriving at this socket during the next `seconds` (flows.client.runs.tap)."""
        return tap("socket", self.id, seconds=seconds, sample=sample, rate=rate, client=self.client)

    def __repr__(self) -> str:
        return f"Socket({self.name!r})"
