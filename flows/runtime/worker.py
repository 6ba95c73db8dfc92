"""A processor's worker process: one consumer (consumer.py) over exactly that processor's socket queues."""

from __future__ import annotations

from django.conf import settings

from flows.runtime import keys
from flows.runtime.consumer import Consumer
from flows.runtime.context import WorkerContext, install


def hostname(processor_id: str, node: str) -> str:
    return f"ec-{processor_id}@{node}"


def ready_key(worker_hostname: str) -> str:
    """Set by the worker once it consumes; the agent turns the processor's status to running when it appears."""
    return f"{keys.PREFIX}:ready:{worker_hostname}"


def run(*, context: WorkerContext, queue_ids: list[str], concurrency: int, node: str, paused: bool = False) -> int:
    install(context)
    context.workdir.mkdir(parents=True, exist_ok=True)
    consumer = Consumer(
        context,
        queue_ids=queue_ids,
        concurrency=concurrency,
        prefetch=concurrency * settings.ELASTICCODE_PREFETCH,
        ready_key=ready_key(hostname(context.processor_id, node)),
        paused=paused,
    )
    consumer.install_signals()
    return consumer.run()
