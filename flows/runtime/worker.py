"""A processor's Celery worker: consumes exactly that processor's socket queues with its concurrency.

Celery's thread pool, not prefork: user code runs in the executor subprocesses already, so a process pool would only
add a second pipe hop per message. The threads mostly wait on the executor's pipe and on Redis, so the GIL is not
the bottleneck.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import task_received, worker_ready

from backend.celery import app
from flows.runtime import keys
from flows.runtime.context import WorkerContext, current, install
from flows.runtime.housekeeping import Housekeeper

log = logging.getLogger(__name__)


@task_received.connect
def _track_delivery(request: Any = None, **_: Any) -> None:
    """Prefetched messages count as in flight too: their leases are renewed until they run and are acked."""
    context = current()
    tag = (getattr(request, "delivery_info", None) or {}).get("delivery_tag")
    if context is not None and tag:
        context.in_flight.add(tag)


@worker_ready.connect
def _announce_ready(sender: Any = None, **_: Any) -> None:
    """The agent turns the processor's status to running once this key appears."""
    import os

    from flows.runtime.broker import client

    if current() is not None and sender is not None:
        client().set(f"{keys.PREFIX}:ready:{sender.hostname}", os.getpid(), ex=7 * 24 * 3600)


def hostname(processor_id: str, node: str) -> str:
    return f"ec-{processor_id}@{node}"


def run(
    *,
    context: WorkerContext,
    queue_ids: list[str],
    concurrency: int,
    node: str,
    loglevel: str = "INFO",
) -> None:
    install(context)
    housekeeper = Housekeeper(in_flight=context.in_flight)
    housekeeper.start()
    context.workdir.mkdir(parents=True, exist_ok=True)
    try:
        worker = app.Worker(
            hostname=hostname(context.processor_id, node),
            pool_cls="threads",
            concurrency=concurrency,
            queues=[keys.queue(q) for q in queue_ids],
            loglevel=loglevel,
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
            optimization="fair",
        )
        worker.start()
    finally:
        housekeeper.stop()
        context.close()
