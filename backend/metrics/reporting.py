"""What agents report for the live views: node utilisation (Redis, once a second) and processor status changes
(the flow's channel-layer group, as they happen)."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from concurrent.futures import Future, wait
from typing import Any

import psutil
import redis

from backend.metrics import publish
from backend.metrics.events import ProcessorState, StatusEvent
from flows.runtime import broker, keys

log = logging.getLogger(__name__)


def node_utilisation(*, node: str, agent: str) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = None
    return {
        "name": node,
        "agent": agent,
        # Since the previous call: the agent calls this once a second, so it is the last second's CPU.
        "cpu_percent": psutil.cpu_percent(None),
        "memory_percent": memory.percent,
        "memory_used_mb": round((memory.total - memory.available) / 1048576, 1),
        "memory_total_mb": round(memory.total / 1048576, 1),
        "load1": load1,
        "cpus": os.cpu_count() or 1,
        "at": time.time(),
    }


def report_node(*, node: str, agent: str) -> None:
    try:
        broker.client().hset(keys.METRIC_NODES, node, json.dumps(node_utilisation(node=node, agent=agent)))
    except redis.RedisError as exc:
        log.warning("node utilisation not reported: redis unavailable (%s)", exc)


def processor_state(processor: Any) -> ProcessorState:
    return {
        "id": str(processor.pk),
        "status": processor.status,
        "status_message": processor.status_message,
        "requested_status": processor.requested_status,
    }


def status_changed(processors: Iterable[Any]) -> list[Future[None]]:
    """Tell the browsers watching each processor's flow about its new status (best effort, never blocks; wait on
    the returned futures only when the process is about to exit)."""
    sent: list[Future[None]] = []
    by_flow: dict[str, list[ProcessorState]] = {}
    for processor in processors:
        by_flow.setdefault(str(processor.flow_id), []).append(processor_state(processor))
    for flow_id, states in by_flow.items():
        frame: StatusEvent = {"type": "status", "flow_id": flow_id, "processors": states}
        future = publish.send(publish.flow_group(flow_id), {"type": "metrics.status", "frame": frame})
        if future is not None:
            sent.append(future)
    return sent


def settle(futures: Iterable[Future[None]], timeout: float = 2.0) -> None:
    wait(list(futures), timeout=timeout)
