"""The baseline: plain Celery, as people run it (prefork pool, JSON, no result backend), on the same Redis."""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery

app = Celery("raw", broker=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_default_queue="bench.raw",
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
_redis: redis.Redis | None = None


def _client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(str(app.conf.broker_url))
    return _redis


@app.task(name="raw.noop")
def noop(x: Any) -> Any:
    return x


@app.task(name="raw.mark")
def mark(x: Any, key: str) -> None:
    """The chain's last task: says when the chain ended."""
    _client().rpush(key, time.time())


@app.task(name="raw.count")
def count(x: Any, key: str) -> None:
    """A no-op that counts itself, so the benchmark knows when all are done."""
    _client().incr(key)
