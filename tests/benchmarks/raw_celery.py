"""The baselines: plain Celery on the same Redis, JSON, no result backend.

Baseline A is Celery as people run it (defaults: early acks, prefork pool). Baseline B (RAW_CELERY_GUARANTEES=1 in
the worker's environment, with `-P threads`) has ElasticCode's guarantees: late acks and reject on worker lost, the
same visibility timeout and restore cadence on Redis, and the same pool kind and concurrency as a processor's
worker."""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery

# The broker: RAW_CELERY_BROKER (RabbitMQ in the benchmark's RabbitMQ round), else the test Redis; the chain's end
# and the count are always written to that Redis, as ElasticCode's state is.
STATE = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
app = Celery("raw", broker=os.environ.get("RAW_CELERY_BROKER") or STATE)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_default_queue="bench.raw",
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
if os.environ.get("RAW_CELERY_GUARANTEES") == "1":
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=8,
        broker_transport_options={
            "visibility_timeout": 10,
            "unacked_restore_interval": 2,
            "unacked_restore_throttle": 1,
            "confirm_publish": True,  # as ElasticCode publishes on RabbitMQ (ignored by Redis)
        },
    )
_redis: redis.Redis | None = None


def _client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(STATE)
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
