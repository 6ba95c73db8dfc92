"""The funnel baseline: a plain Celery chord (prefork pool, JSON) on the same Redis, with the Redis result backend a
chord needs. Its results and chord counters live in another database number of that server, so they never mix with
the broker's lists or ElasticCode's keys."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse, urlunparse

from celery import Celery

BROKER = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
QUEUE = "bench.chord"


def backend_url(broker: str) -> str:
    """The broker's server, the next database number."""
    url = urlparse(broker)
    db = int(url.path.strip("/") or 0)
    return urlunparse(url._replace(path=f"/{(db + 1) % 16}"))


app = Celery("raw_chord", broker=BROKER, backend=backend_url(BROKER))
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_default_queue=QUEUE,
    result_expires=600,  # a benchmark's results need not outlive it
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="chord.noop")
def noop(x: Any) -> Any:
    return x


@app.task(name="chord.collect")
def collect(results: list[Any]) -> int:
    """The chord's body: a no-op that says how many results it was given."""
    return len(results)
