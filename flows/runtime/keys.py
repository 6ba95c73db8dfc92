"""Redis key names of the runtime, in one place so the worker, the web process and the tests agree."""

from __future__ import annotations

PREFIX = "ec"
# How long completion marks and sink results are kept. A redelivery later than this could run twice.
DONE_TTL = 7 * 24 * 3600
RESULT_TTL = 24 * 3600

LINEAGE = f"{PREFIX}:lineage"
DELAYED = f"{PREFIX}:delayed"
# Records no chore can write or read (housekeeping.py), kept for a person to look at: the newest 10,000.
LINEAGE_QUARANTINE = f"{PREFIX}:lineage:quarantine"
DELAYED_QUARANTINE = f"{PREFIX}:delayed:quarantine"
HOUSEKEEPING_LOCK = f"{PREFIX}:housekeeping:lock"


def queue(queue_id: object) -> str:
    """The broker list behind a Queue row: keyed by id, so renaming a queue strands nothing."""
    return f"ec.{queue_id}"


def done(message_id: str) -> str:
    return f"{PREFIX}:done:{message_id}"


def trace_open(trace_id: str) -> str:
    return f"{PREFIX}:trace:{trace_id}:open"


def trace_results(trace_id: str) -> str:
    return f"{PREFIX}:trace:{trace_id}:results"


def trace_error(trace_id: str) -> str:
    return f"{PREFIX}:trace:{trace_id}:error"


def trace_notify(trace_id: str) -> str:
    return f"{PREFIX}:trace:{trace_id}:notify"


def dead_letters(socket_id: object) -> str:
    return f"{PREFIX}:dlq:{socket_id}"


# Deleted sockets' messages (flows/runtime/archive.py): one archive list per owner, and the tombstones of sockets
# deleted in the last hour (socket id → JSON), so that messages arriving late are archived too.
DELETED = f"{PREFIX}:deleted"


def archive(owner_id: object) -> str:
    return f"{PREFIX}:archive:{owner_id}"


def flow_version(flow_id: object) -> str:
    return f"{PREFIX}:flow:{flow_id}:version"


# Stands in for an optional key a Lua script is not going to touch (scripts declare every key they may use).
NOTHING = f"{PREFIX}:nothing"


def quarantine(queue_id: object) -> str:
    """Socket tasks of a queue whose argument is not an envelope (flows/tasks.py): kept for a person to look at,
    never run."""
    return f"{PREFIX}:quarantine:{queue_id}"


# Live metrics (backend/metrics/). Per-second and per-minute hashes hold additive fields `<socket_id>|<metric>`:
# in, out, errors, bytes_in, bytes_out, time_ms, held_ms and h0…h18 (execution-time histogram, backend/metrics/
# histogram.py) are sums over every worker; time_max and depth are maxima. Workers add into them once a second.
METRIC_SECOND_TTL = 180
METRIC_MINUTE_TTL = 2 * 24 * 3600
METRIC_MINUTES = f"{PREFIX}:m:minutes"  # sorted set of minute starts (epoch seconds) not yet rolled up
METRIC_WORKERS = f"{PREFIX}:m:workers"  # worker name → JSON utilisation, refreshed every second
METRIC_NODES = f"{PREFIX}:m:nodes"  # node name → JSON utilisation, refreshed by its agent


def metric_second(flow_id: object, second: int) -> str:
    """One flow's sockets in one second (kept METRIC_SECOND_TTL: the resync window of a reconnecting browser)."""
    return f"{PREFIX}:m:s:{flow_id}:{second}"


def metric_active(second: int) -> str:
    """The flows that moved in that second (a set): the cluster view reads only those."""
    return f"{PREFIX}:m:active:{second}"


def metric_minute(minute: int) -> str:
    """Every socket in one minute, until the rollup moves it into PostgreSQL (backend/metrics/rollups.py)."""
    return f"{PREFIX}:m:min:{minute}"


def metric_depths(flow_id: object) -> str:
    """The last sampled queue depths of a flow (JSON), for a browser that connects between samples."""
    return f"{PREFIX}:m:depths:{flow_id}"


# SDK compositions (flows/runtime/workflows.py), keyed by their trace id: the answer (first one wins), a latch list
# that wakes whoever waits for it, who may read it, and per group ("join") the member results and the member that
# filled it.
def workflow_answer(trace_id: str) -> str:
    return f"{PREFIX}:wf:{trace_id}:answer"


def workflow_notify(trace_id: str) -> str:
    return f"{PREFIX}:wf:{trace_id}:notify"


def workflow_owner(trace_id: str) -> str:
    return f"{PREFIX}:wf:{trace_id}:owner"


def workflow_join(trace_id: str, join_id: str) -> str:
    return f"{PREFIX}:wf:{trace_id}:join:{join_id}"


def workflow_join_owner(trace_id: str, join_id: str) -> str:
    return f"{PREFIX}:wf:{trace_id}:join:{join_id}:owner"


# Schedules of source sockets (flows/runtime/schedules.py): the next due time with the schedule it was planned from
# (JSON), and a once-only key per slot, so that several agents never fire one slot twice.
def schedule_due(socket_id: object) -> str:
    return f"{PREFIX}:schedule:{socket_id}"


def schedule_slot(socket_id: object, due: float) -> str:
    return f"{PREFIX}:schedule:{socket_id}:{int(due)}"


# Calls from inside a function (flows/runtime/calls.py): one answer per call, and one notify list per calling
# message, which every answer to it wakes; a worker's poke list wakes its slots waiting on calls when a message
# arrives they could serve.
def call_answer(call_id: str) -> str:
    return f"{PREFIX}:call:{call_id}:answer"


def call_notify(caller_id: str) -> str:
    return f"{PREFIX}:call:{caller_id}:notify"


def worker_poke(worker: str) -> str:
    return f"{PREFIX}:poke:{worker}"


# Pure sockets' results (flows/runtime/memo.py), by socket, commit and the hash of the call's arguments: the value,
# the message computing it now (a lock), the notify lists of those waiting for it, and a failure kept briefly.
def memo(socket_id: str, commit: str, digest: str) -> str:
    return f"{PREFIX}:memo:{socket_id}:{commit[:12]}:{digest}"


# Taps (flows/runtime/taps.py): a flow's active watches (target id → JSON lease), and one capped stream of events per
# tapped plug or socket.
def taps(flow_id: object) -> str:
    return f"{PREFIX}:taps:{flow_id}"


def tap_stream(target_id: object) -> str:
    return f"{PREFIX}:tap:{target_id}"


def tap_window(target_id: object, seconds: int, index: int) -> str:
    """The count of a target's tap events in one window of `seconds` (the `index`-th since the epoch), shared by
    every worker: the window of the tap's rate."""
    return f"{PREFIX}:tapw:{target_id}:{seconds}:{index}"


# Map runs' receipts (flows/services/maps.py): one answer per parcel and send, and the run's notify list.
def map_answer(run_id: object, index: int, attempt: int) -> str:
    return f"{PREFIX}:map:{run_id}:{index}:{attempt}"


def map_notify(run_id: object) -> str:
    return f"{PREFIX}:map:{run_id}:notify"
