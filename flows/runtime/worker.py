"""A processor's worker process: Celery's own worker, consuming exactly that processor's socket queues (DESIGN §2).

`manage.py worker` (started by the agent) builds the WorkerContext and calls `run`, which starts a Celery
WorkController in this process: a thread pool with the processor's concurrency (user code already runs in the warm
executor subprocess each pool thread drives, so a process pool would only add a hop; pool.py makes it resizable),
Celery's autoscaler between `concurrency` and `autoscale_max` slots when the processor asks for it, late acks,
prefetch of `slots * ELASTICCODE_PREFETCH` (the most slots, when autoscaling), task events on, the processor's `rate_limit` on the socket task, named
`<processor>-<id>@<node>` so Flower and `celery inspect` list it. Mingle and gossip are off: a processor's worker
has nothing to learn from the others, and gossip would make every worker read every other worker's events.

Stopping is Celery's: SIGTERM is a warm shutdown (running calls finish; what was taken and not started goes back
to its queue). Pausing is Celery's remote control: `cancel_consumer` for each socket queue (the agent sends it), and
`add_consumer` to resume; a worker started for a paused processor starts consuming nothing.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from typing import Any

from celery import signals
from django.conf import settings

from flows.runtime import broker, keys
from flows.runtime.consumer import Consumer
from flows.runtime.context import WorkerContext, install
from flows.runtime.envelope import TASK_NAME
from flows.runtime.housekeeping import Housekeeper
from flows.runtime.pool import Autoscaler, SlotPool
from flows.runtime.visibility import Renewer

log = logging.getLogger(__name__)
# Celery logs every task received and succeeded at INFO: a line per message on the hot path.
QUIET_LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.worker.request")


def hostname(name: str, processor_id: str, node: str, replica: int = 0) -> str:
    """The worker's Celery nodename, `<processor>-<first 8 of its id>@<node>` (`…-r2@<node>` for the second
    replica): unique per replica and node, and what Flower, `celery inspect` and the Worker row show. Characters
    Celery's CLI would trip on become '-'."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "processor"
    suffix = f"-r{replica + 1}" if replica else ""
    return f"{slug}-{processor_id[:8]}{suffix}@{node}"


def ready_key(worker_hostname: str) -> str:
    """Set by the worker once it consumes; the agent turns the processor's status to running when it appears."""
    return f"{keys.PREFIX}:ready:{worker_hostname}"


def run(
    *,
    context: WorkerContext,
    queue_ids: list[str],
    concurrency: int,
    worker_hostname: str,
    rate_limit: str = "",
    autoscale_max: int = 0,
    paused: bool = False,
) -> int:
    """Serve the processor's queues until Celery's worker stops; its exit code.

    `concurrency` slots run calls at once; with `autoscale_max` above it, Celery's autoscaler grows the slots up to
    `autoscale_max` while messages wait and shrinks them back to `concurrency` when idle (pool.py)."""
    import flows.tasks  # noqa: F401  (registers the socket task)
    from backend.celery import app

    install(context)
    context.workdir.mkdir(parents=True, exist_ok=True)
    # A slot waiting on calls serves other messages on its own stack (calls.py), up to ELASTICCODE_CALL_NESTING
    # deep, some 40 Python frames each: room for that in the recursion limit and in each slot thread's stack.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 200 * settings.ELASTICCODE_CALL_NESTING))
    threading.stack_size(64 * 1024 * 1024)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # Celery keeps one token bucket per task name in each worker, and this worker runs one processor: the bucket
    # is the processor's (per worker; replicas each have their own).
    app.tasks[TASK_NAME].rate_limit = rate_limit or None
    queues = [keys.queue(queue_id) for queue_id in queue_ids]
    renewer: list[Renewer] = []
    ready = ready_key(worker_hostname)

    def on_ready(sender: Any, **_: Any) -> None:
        thread = Renewer(sender, settings.ELASTICCODE_VISIBILITY_RENEW)
        thread.start()
        renewer.append(thread)
        broker.patient(lambda: broker.client().set(ready, os.getpid(), ex=7 * 24 * 3600))
        log.info(
            "worker %s serving %d queue(s) with %d slot(s)%s",
            worker_hostname,
            len(queues),
            concurrency,
            f", autoscaling to {autoscale_max}" if autoscale_max > concurrency else "",
        )

    def on_shutdown(**_: Any) -> None:
        # A slot holding for back pressure gives its message back instead of waiting on (handler.py).
        context.stopping.set()

    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_shutting_down.connect(on_shutdown, weak=False)
    worker = app.Worker(
        hostname=worker_hostname,
        pool_cls=SlotPool,
        concurrency=max(1, concurrency),
        autoscale=[autoscale_max, max(1, concurrency)] if autoscale_max > concurrency else None,
        autoscaler_cls=Autoscaler,
        queues=queues,
        loglevel="INFO",
        task_events=True,
        without_mingle=True,
        without_gossip=True,
        prefetch_multiplier=settings.ELASTICCODE_PREFETCH,
        quiet=True,
        consumer_cls=Consumer,
    )
    if paused:
        app.amqp.queues.deselect(queues)  # consumes nothing until the agent sends add_consumer
    housekeeper = Housekeeper(lineage=False)
    housekeeper.start()
    if context.metrics is not None:
        context.metrics.start()
    try:
        worker.start()
    finally:
        context.stopping.set()
        for thread in renewer:
            thread.stop()
        housekeeper.stop()
        if context.metrics is not None:
            context.metrics.stop()
        try:
            broker.client().delete(ready)
        except Exception as exc:
            log.warning("could not clear %s: %s", ready, exc)
        context.close()
    return int(getattr(worker, "exitcode", 0) or 0)
