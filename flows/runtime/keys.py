"""Redis key names of the runtime, in one place so the worker, the web process and the tests agree."""

from __future__ import annotations

PREFIX = "ec"
# How long completion marks and sink results are kept. A redelivery later than this could run twice.
DONE_TTL = 7 * 24 * 3600
RESULT_TTL = 24 * 3600

LINEAGE = f"{PREFIX}:lineage"
DELAYED = f"{PREFIX}:delayed"
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


def flow_version(flow_id: object) -> str:
    return f"{PREFIX}:flow:{flow_id}:version"
