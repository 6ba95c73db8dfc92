"""Publishing envelopes to socket queues and the runtime's own Redis client.

Messages go through Celery's producer naming the queue: Celery sends them to the anonymous exchange with the queue's
name as routing key, and kombu's Redis transport pushes straight onto that list, so a message is kept even if no
worker ever consumed the queue.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import redis
from django.conf import settings

from backend.celery import app
from flows.runtime import keys
from flows.runtime.envelope import TASK_NAME, Envelope

log = logging.getLogger(__name__)
T = TypeVar("T")

# A broker that restarts (AOF on) is waited for, not given up on: messages are only delayed.
PUBLISH_RETRY = {"max_retries": 120, "interval_start": 0.1, "interval_step": 0.5, "interval_max": 1.0}
REDIS_OUTAGE_SECONDS = 120.0


@functools.cache
def client() -> redis.Redis:
    return redis.Redis.from_url(
        str(settings.CELERY_BROKER_URL),
        health_check_interval=30,
        socket_keepalive=True,
        socket_timeout=30,
        socket_connect_timeout=5,
    )


def patient(fn: Callable[[], T], *, seconds: float = REDIS_OUTAGE_SECONDS) -> T:
    """Run a Redis operation, retrying through a broker restart for up to `seconds`."""
    deadline = time.monotonic() + seconds
    delay = 0.1
    while True:
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.BusyLoadingError):
            if time.monotonic() > deadline:
                raise
            log.warning("redis unavailable, retrying in %.1f s", delay)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def publish(messages: Iterable[tuple[str, Envelope]], *, countdown: float | None = None) -> None:
    """Send each (queue id, envelope) to that queue; retries while the broker is down, raises after that."""
    with app.producer_or_acquire() as producer:
        for queue_id, envelope in messages:
            name = keys.queue(queue_id)
            app.send_task(
                TASK_NAME,
                args=[envelope],
                task_id=envelope["id"],
                queue=name,
                producer=producer,
                retry=True,
                retry_policy=PUBLISH_RETRY,
                countdown=countdown,
                ignore_result=True,
            )


def decode(raw: bytes) -> dict[str, Any]:
    """A kombu Redis list entry → {"envelope": ..., "headers": ...} (for peeking at a queue)."""
    import base64
    import json

    message = json.loads(raw)
    body = message.get("body", "")
    if message.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args, _kwargs, _embed = json.loads(body)
    return {"envelope": args[0] if args else None, "headers": message.get("headers", {})}
