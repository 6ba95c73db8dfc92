"""The shapes of live metrics: what workers send to a flow's channel-layer group and what the websockets send.

Websockets (backend/metrics/consumers.py); every frame is one JSON object with a `type`.

/ws/flows/<flow id>/ (needs view_flow on the flow):
    server → client
      snapshot   on connect and on {"type": "resync"}: the current state, so a reconnecting client misses nothing
                 that still matters (the channel layer is at most once).
      tick       one worker's counts for one finished second (several workers may send the same second: add them).
      depths     sampled queue depth of every socket's queue (about once a second while someone watches).
      status     processors whose status changed.
      pong       answer to {"type": "ping"}.
      error      sent just before the server closes with a 44xx code, saying why.
    client → server: {"type": "ping"} | {"type": "resync"}; anything else is a bad frame (close 4400).

/ws/metrics/ (any logged-in user; each part filtered to what the user may see):
      snapshot   on connect / resync: `cluster` plus the last minute of per-flow seconds.
      cluster    once a second: nodes, workers, per-flow totals of the last second, top failing sockets and deepest
                 queues.

Close codes: 4400 bad frame, 4401 not authenticated, 4403 origin not allowed, 4404 no such flow (or not yours to
see: the same answer, as the REST API gives charlie a 404).
"""

from __future__ import annotations

from typing import Literal, TypedDict

CLOSE_BAD_FRAME = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_NOT_FOUND = 4404

# A socket's counts for one second (or one minute): additive except time_max. `in` is a Python keyword, hence the
# functional form.
SocketCounts = TypedDict(
    "SocketCounts",
    {
        "in": int,  # messages taken and run
        "out": int,  # messages published downstream (children)
        "errors": int,  # calls that failed (each attempt)
        "bytes_in": int,  # payload JSON bytes taken
        "bytes_out": int,  # payload JSON bytes published
        "time_ms": float,  # execution time, summed
        "time_max": float,  # slowest call
        "held_ms": float,  # time output was held by back pressure
        "hist": list[int],  # execution-time histogram (backend/metrics/histogram.py BOUNDS_MS)
    },
)


class CallError(TypedDict):
    socket_id: str
    message_id: str
    trace_id: str
    error: str
    error_type: str
    at: float


class TickEvent(TypedDict):
    """Channel-layer event `metrics.tick` → websocket frame `tick`."""

    type: Literal["tick"]
    flow_id: str
    t: int  # the second (epoch) the counts are for
    worker: str
    processor_id: str
    sockets: dict[str, SocketCounts]
    errors: list[CallError]  # at most a few per second: a sample, the counts are in `sockets`
    busy: float  # average busy slots over the second
    concurrency: int


class Depth(TypedDict):
    depth: int
    max: int | None  # the socket's max_queue_length (or its queue's max_length); None: unbounded
    held: bool  # the socket's worker holds output because a target queue is full


class DepthsEvent(TypedDict):
    type: Literal["depths"]
    flow_id: str
    t: int
    sockets: dict[str, Depth]


class ProcessorState(TypedDict):
    id: str
    status: str
    status_message: str
    requested_status: str


class StatusEvent(TypedDict):
    type: Literal["status"]
    flow_id: str
    processors: list[ProcessorState]


class Second(TypedDict):
    t: int
    sockets: dict[str, SocketCounts]
    # The workers whose counts are in `sockets`: a tick of one of them for this second, arriving after the snapshot
    # (it was written to Redis just before the snapshot read it, and sent just after), is already counted.
    workers: list[str]


class WorkerState(TypedDict):
    name: str
    processor_id: str
    flow_id: str
    busy: float
    concurrency: int
    cpu_percent: float
    rss_mb: float
    pid: int
    host: str
    at: float


class FlowSnapshot(TypedDict):
    type: Literal["snapshot"]
    flow_id: str
    t: int
    processors: list[ProcessorState]
    seconds: list[Second]  # the last minute, oldest first, each merged over all workers
    depths: dict[str, Depth]
    workers: list[WorkerState]


class NodeState(TypedDict):
    name: str
    status: str  # online / offline (the Node row)
    cpus: int
    cpu_percent: float | None  # None: the agent has not reported in the last few seconds
    memory_percent: float | None
    memory_used_mb: float | None
    memory_total_mb: float | None
    load1: float | None
    agents: list[str]
    last_heartbeat: str | None


FlowCounts = TypedDict(
    "FlowCounts",
    {"id": str, "name": str, "in": int, "out": int, "errors": int, "time_ms": float, "time_max": float,
     "hist": list[int]},
)  # fmt: skip


class RankedSocket(TypedDict):
    """A socket in a top list (the dashboard's websocket frames and /api/metrics/top-sockets)."""

    socket_id: str
    socket: str
    processor_id: str
    flow_id: str
    flow: str
    value: float  # e.g. errors in the last minute, queue depth, p95 in ms


class SocketRank(RankedSocket):
    max: int | None  # the socket's queue bound


class ClusterEvent(TypedDict):
    """`cluster` frame, once a second on /ws/metrics/; `snapshot` adds `seconds`."""

    type: Literal["cluster", "snapshot"]
    t: int  # the second `flows` counts are for
    nodes: list[NodeState]  # only with the cluster view right (LS_NODES); else []
    workers: list[WorkerState]  # workers of processors the user may see
    flows: list[FlowCounts]  # flows the user may see that moved in second t
    top_errors: list[SocketRank]  # up to 10, errors over the last 60 s
    deepest: list[SocketRank]  # up to 10 deepest socket queues
