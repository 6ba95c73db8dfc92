"""Where a socket's results go: the flow's plugs, cached in the worker and reloaded when the flow's version moves.

The version is read from the database at most once a second per flow (a read, never a write). If the database is
down the cached topology keeps the flow moving (DESIGN §2: a database restart must not stop a flow).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property

from django.db import DatabaseError, close_old_connections

from flows.models import Flow, Plug, PlugKind, Processor, Socket

log = logging.getLogger(__name__)
CHECK_EVERY = 1.0


@dataclass(frozen=True)
class Route:
    plug_id: str
    name: str
    target_socket_id: str
    target_queue_id: str
    argument: str = ""  # the target function's parameter that receives the value ("" = the first)
    max_length: int | None = None  # the target queue's bound (back pressure); None: unbounded
    target_name: str = ""


@dataclass(frozen=True)
class SocketInfo:
    id: str
    name: str
    function: str
    flow_id: str
    processor_id: str
    queue_id: str
    retries: int
    time_limit: int
    results: tuple[Route, ...] = ()
    errors: tuple[Route, ...] = ()
    max_length: int | None = None  # this socket's queue bound: its max_queue_length, else its queue's max_length
    message_ttl: int | None = None  # seconds a message may wait in this socket's queue before it expires
    pure: bool = False  # results memoized (flows/runtime/memo.py)
    memo_ttl: int | None = None
    commit: str = ""  # its processor's pinned commit: part of a memo entry's key
    chaos: int = 0  # the flow's chaos drill, percent of calls failed on purpose

    @cached_property
    def bounded(self) -> tuple[Route, ...]:
        """The outgoing routes whose target queue has a bound: the ones back pressure watches."""
        return tuple(route for route in self.results + self.errors if route.max_length)

    @property
    def is_sink(self) -> bool:
        """No outgoing result plug: the result is kept for whoever waits on the trace."""
        return not self.results


@dataclass
class Topology:
    version: int
    sockets: dict[str, SocketInfo] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # socket name → id (calls address sockets by name)


def load(flow_id: str) -> Topology:
    """The flow's sockets and routes; empty when the flow is gone (its messages are then of unknown sockets)."""
    found = Flow.objects.filter(pk=flow_id).values_list("version", "chaos").first()
    if found is None:
        return Topology(version=-1)
    version, chaos = found
    processors = {
        str(pk): (retries, time_limit, commit)
        for pk, retries, time_limit, commit in Processor.objects.filter(flow_id=flow_id).values_list(
            "id", "retries", "time_limit", "commit"
        )
    }
    rows = list(
        Socket.objects.filter(flow_id=flow_id).values_list(
            "id",
            "name",
            "function",
            "processor_id",
            "queue_id",
            "max_queue_length",
            "queue__max_length",
            "queue__message_ttl",
            "pure",
            "memo_ttl",
        )
    )
    queue_of = {str(r[0]): str(r[4]) for r in rows}
    name_of = {str(r[0]): r[1] for r in rows}
    bound_of = {str(r[0]): r[5] or r[6] or None for r in rows}
    routes: dict[tuple[str, str], list[Route]] = {}
    for plug_id, name, source, target, kind, argument in Plug.objects.filter(flow_id=flow_id).values_list(
        "id", "name", "source_id", "target_id", "kind", "argument"
    ):
        routes.setdefault((str(source), kind), []).append(
            Route(
                str(plug_id),
                name,
                str(target),
                queue_of[str(target)],
                argument,
                bound_of[str(target)],
                name_of[str(target)],
            )
        )
    topology = Topology(version=version)
    for socket_id, name, function, processor_id, queue_id, _own, _queue, message_ttl, pure, memo_ttl in rows:
        retries, time_limit, commit = processors[str(processor_id)]
        topology.names[name] = str(socket_id)
        topology.sockets[str(socket_id)] = SocketInfo(
            id=str(socket_id),
            name=name,
            function=function,
            flow_id=str(flow_id),
            processor_id=str(processor_id),
            queue_id=str(queue_id),
            retries=retries,
            time_limit=time_limit,
            results=tuple(routes.get((str(socket_id), PlugKind.RESULT), ())),
            errors=tuple(routes.get((str(socket_id), PlugKind.ERROR), ())),
            max_length=bound_of[str(socket_id)],
            message_ttl=message_ttl or None,
            pure=pure,
            memo_ttl=memo_ttl or None,
            commit=commit,
            chaos=chaos,
        )
    return topology


class TopologyCache:
    """Thread-safe per-process cache of flow topologies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flows: dict[str, tuple[Topology, float]] = {}

    def socket(self, flow_id: str, socket_id: str) -> SocketInfo | None:
        topology = self._get(flow_id)
        info = topology.sockets.get(socket_id)
        if info is None:
            # A socket added since the last load: reload once before calling it unknown.
            topology = self._get(flow_id, force=True)
            info = topology.sockets.get(socket_id)
        return info

    def socket_named(self, flow_id: str, name: str) -> SocketInfo | None:
        """The socket of that name in the flow (a call's target). Never a forced reload: the name comes from user
        code, which may ask for a missing one in a loop; a socket added since is found once the flow's version check
        (at most CHECK_EVERY old) sees it."""
        topology = self._get(flow_id)
        socket_id = topology.names.get(name)
        return topology.sockets.get(socket_id) if socket_id else None

    def _get(self, flow_id: str, *, force: bool = False) -> Topology:
        now = time.monotonic()
        with self._lock:
            cached = self._flows.get(flow_id)
        if cached and not force and now - cached[1] < CHECK_EVERY:
            return cached[0]
        try:
            if cached and not force:
                version = Flow.objects.filter(pk=flow_id).values_list("version", flat=True).first()
                if version == cached[0].version:
                    with self._lock:
                        self._flows[flow_id] = (cached[0], now)
                    return cached[0]
            topology = load(flow_id)
        except DatabaseError:
            close_old_connections()
            if cached:
                log.warning("database unavailable; routing flow %s with its cached topology", flow_id)
                with self._lock:
                    self._flows[flow_id] = (cached[0], now)
                return cached[0]
            raise
        with self._lock:
            self._flows[flow_id] = (topology, now)
        return topology
