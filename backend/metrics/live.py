"""Reads of the live state in Redis (and the few rows it is named by), for the websockets and the sampler.

All sync: consumers call these through `sync_to_async` / `database_sync_to_async`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from backend.cluster.models import Node
from backend.metrics import histogram
from backend.metrics.events import Depth, FlowCounts, NodeState, Second, SocketCounts, WorkerState
from flows.models import Processor, Socket
from flows.runtime import broker, keys

WINDOW = 60  # seconds a (re)connecting browser gets back
WORKER_STALE = 5.0  # a worker that has not reported for this long is gone from the live view
NODE_STALE = 5.0
DIRECTORY_TTL = 5.0
INT_FIELDS = frozenset({"in", "out", "errors", "bytes_in", "bytes_out"})


def empty_counts() -> SocketCounts:
    return {
        "in": 0,
        "out": 0,
        "errors": 0,
        "bytes_in": 0,
        "bytes_out": 0,
        "time_ms": 0.0,
        "time_max": 0.0,
        "held_ms": 0.0,
        "hist": histogram.empty(),
    }


def parse_counts(raw: Mapping[Any, Any]) -> dict[str, SocketCounts]:
    """A per-second or per-minute hash (`<socket id>|<metric>` fields) → counts per socket."""
    out: dict[str, SocketCounts] = {}
    for key, value in raw.items():
        field = key.decode() if isinstance(key, bytes) else str(key)
        socket_id, _, name = field.partition("|")
        if socket_id == "worker":
            continue  # which workers the second holds (workers_of)
        counts = out.get(socket_id)
        if counts is None:
            counts = out[socket_id] = empty_counts()
        if name in INT_FIELDS:
            counts[name] = int(value)  # type: ignore[literal-required]
        elif name in ("time_ms", "time_max", "held_ms"):
            counts[name] = float(value)  # type: ignore[literal-required]
        elif name.startswith("h") and name[1:].isdigit() and int(name[1:]) < histogram.BUCKETS:
            counts["hist"][int(name[1:])] = int(value)
    return out


def workers_of(raw: Mapping[Any, Any]) -> list[str]:
    """The workers whose counts a per-second hash holds."""
    out = []
    for key in raw:
        field = key.decode() if isinstance(key, bytes) else str(key)
        if field.startswith("worker|"):
            out.append(field[len("worker|") :])
    return sorted(out)


def add_counts(into: SocketCounts, other: SocketCounts) -> None:
    for name in ("in", "out", "errors", "bytes_in", "bytes_out", "time_ms", "held_ms"):
        into[name] += other[name]  # type: ignore[literal-required]
    into["time_max"] = max(into["time_max"], other["time_max"])
    into["hist"] = [a + b for a, b in zip(into["hist"], other["hist"], strict=True)]


def flow_seconds(flow_id: str, last: int, window: int = WINDOW) -> list[Second]:
    """The flow's seconds (last - window, last], oldest first, only those with counts."""
    pipe = broker.client().pipeline(transaction=False)
    seconds = list(range(last - window + 1, last + 1))
    for t in seconds:
        pipe.hgetall(keys.metric_second(flow_id, t))
    return [
        {"t": t, "sockets": parse_counts(raw), "workers": workers_of(raw)}
        for t, raw in zip(seconds, pipe.execute(), strict=True)
        if raw
    ]


def workers(*, flow_id: str | None = None) -> list[WorkerState]:
    now = time.time()
    out: list[WorkerState] = []
    for raw in broker.client().hvals(keys.METRIC_WORKERS):
        state = json.loads(raw)
        if now - float(state.get("at", 0)) > WORKER_STALE:
            continue
        if flow_id is None or state.get("flow_id") == flow_id:
            out.append(state)
    return sorted(out, key=lambda w: w["name"])


def forget_old_workers(older_than: float = 3600) -> int:
    """Workers report every second while they live; drop entries of workers long gone (the housekeeper's chore)."""
    client = broker.client()
    now = time.time()
    stale = [
        name for name, raw in client.hgetall(keys.METRIC_WORKERS).items() if now - json.loads(raw)["at"] > older_than
    ]
    if stale:
        client.hdel(keys.METRIC_WORKERS, *stale)
    return len(stale)


def last_depths(flow_id: str) -> dict[str, Depth]:
    raw = broker.client().get(keys.metric_depths(flow_id))
    return json.loads(raw) if raw else {}


# The socket directory: names, queues and bounds of every socket, for the sampler (cached, re-read every few s).


@dataclass(frozen=True)
class SocketEntry:
    id: str
    name: str
    processor_id: str
    flow_id: str
    flow: str
    queue_id: str
    max: int | None


class Directory:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[SocketEntry] = []
        self._at = 0.0

    def entries(self) -> list[SocketEntry]:
        with self._lock:
            if time.monotonic() - self._at < DIRECTORY_TTL:
                return self._entries
        rows = Socket.objects.values_list(
            "id", "name", "processor_id", "flow_id", "flow__name", "queue_id", "max_queue_length", "queue__max_length"
        )
        entries = [
            SocketEntry(str(i), name, str(p), str(f), flow, str(q), own or of_queue or None)
            for i, name, p, f, flow, q, own, of_queue in rows
        ]
        with self._lock:
            self._entries, self._at = entries, time.monotonic()
        return entries

    def of_flow(self, flow_id: str) -> list[SocketEntry]:
        return [entry for entry in self.entries() if entry.flow_id == flow_id]


directory = Directory()


def sample_depths(entries: Iterable[SocketEntry], held_second: int) -> dict[str, Depth]:
    """Queue depth of each socket (LLEN, one pipeline); `held` when the socket's worker held output in that second."""
    entries = list(entries)
    if not entries:
        return {}
    depths = broker.depths([entry.queue_id for entry in entries])
    pipe = broker.client().pipeline(transaction=False)
    for flow_id in sorted({entry.flow_id for entry in entries}):
        pipe.hgetall(keys.metric_second(flow_id, held_second))
    seconds = pipe.execute()
    held: set[str] = set()
    for raw in seconds:
        for socket_id, counts in parse_counts(raw).items():
            if counts["held_ms"] > 0:
                held.add(socket_id)
    return {
        entry.id: {"depth": int(depth), "max": entry.max, "held": entry.id in held}
        for entry, depth in zip(entries, depths, strict=True)
    }


def processors_of(flow_id: str) -> list[dict[str, str]]:
    return [
        {"id": str(pk), "status": status, "status_message": message, "requested_status": requested}
        for pk, status, message, requested in Processor.objects.filter(flow_id=flow_id)
        .order_by("name")
        .values_list("id", "status", "status_message", "requested_status")
    ]


def nodes() -> list[NodeState]:
    reports = {
        (k.decode() if isinstance(k, bytes) else k): json.loads(v)
        for k, v in broker.client().hgetall(keys.METRIC_NODES).items()
    }
    now = time.time()
    out: list[NodeState] = []
    for node in Node.objects.prefetch_related("agents"):
        report = reports.get(node.name)
        fresh = report is not None and now - float(report.get("at", 0)) <= NODE_STALE
        out.append(
            {
                "name": node.name,
                "status": node.status,
                "cpus": node.cpus,
                "cpu_percent": report["cpu_percent"] if fresh and report else None,
                "memory_percent": report["memory_percent"] if fresh and report else None,
                "memory_used_mb": report["memory_used_mb"] if fresh and report else None,
                "memory_total_mb": report["memory_total_mb"] if fresh and report else None,
                "load1": report["load1"] if fresh and report else None,
                "agents": [agent.name for agent in node.agents.all()],
                "last_heartbeat": node.last_heartbeat.isoformat() if node.last_heartbeat else None,
            }
        )
    return out


def active_flows(second: int) -> list[str]:
    return sorted(
        m.decode() if isinstance(m, bytes) else m for m in broker.client().smembers(keys.metric_active(second))
    )


def flow_totals(seconds: Mapping[str, Mapping[str, SocketCounts]], names: Mapping[str, str]) -> list[FlowCounts]:
    """Per flow, the sum over its sockets (seconds: flow id → socket id → counts)."""
    out: list[FlowCounts] = []
    for flow_id, sockets in sorted(seconds.items()):
        total = empty_counts()
        for counts in sockets.values():
            add_counts(total, counts)
        out.append(
            {
                "id": flow_id,
                "name": names.get(flow_id, ""),
                "in": total["in"],
                "out": total["out"],
                "errors": total["errors"],
                "time_ms": round(total["time_ms"], 3),
                "time_max": total["time_max"],
                "hist": total["hist"],
            }
        )
    return out


def read_second(flow_ids: Iterable[str], second: int) -> dict[str, dict[str, SocketCounts]]:
    flow_ids = list(flow_ids)
    pipe = broker.client().pipeline(transaction=False)
    for flow_id in flow_ids:
        pipe.hgetall(keys.metric_second(flow_id, second))
    return {flow_id: parse_counts(raw) for flow_id, raw in zip(flow_ids, pipe.execute(), strict=True) if raw}


def valid_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
