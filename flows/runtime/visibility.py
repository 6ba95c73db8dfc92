"""Renewing the visibility of the messages a worker holds, on the Redis broker.

kombu's Redis transport emulates acknowledgements: a taken message waits in the `unacked` hash, indexed by the time
it was taken in the `unacked_index` sorted set, and every worker's kombu gives back to their queues the messages
taken more than `visibility_timeout` seconds ago (settings.CELERY_BROKER_TRANSPORT_OPTIONS). That is how a killed
worker's messages run again. A short timeout makes that quick, but on its own it would also give back a call that
simply runs longer than the timeout, and a second worker would run it at the same time. So each worker renews, every
ELASTICCODE_VISIBILITY_RENEW seconds, the index entries of the messages it still holds (running, waiting for a slot
or a rate limit, or for a retry's countdown), as SQS's ChangeMessageVisibility does: only the messages of a worker
that stopped renewing (killed, frozen, cut off from Redis) come back. `ZADD XX` touches only entries still there, so
a message acknowledged meanwhile is never brought back to life.

Other brokers need none of this: RabbitMQ redelivers a consumer's unacknowledged messages when its connection
closes, and never while it is open.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any

import redis
from django.conf import settings

log = logging.getLogger(__name__)


def held(consumer: Any) -> tuple[Any, list[Any]]:
    """(the task channel, the delivery tags its QoS holds unacknowledged) of a Celery worker's consumer; the channel
    is None when the transport keeps no visibility index (not Redis) or the consumer is not connected."""
    channel = getattr(getattr(consumer, "task_consumer", None), "channel", None)
    qos = getattr(channel, "qos", None)
    if qos is None or not hasattr(channel, "unacked_index_key"):
        return None, []
    for _ in range(3):
        try:
            # Written by the worker's event loop and pool threads; a copy is all this thread needs.
            return channel, list(qos._delivered)
        except RuntimeError:  # changed size while being copied
            continue
    return channel, []


def renew(consumer: Any) -> int:
    """Mark every message `consumer` holds as taken now; how many index entries were renewed."""
    channel, tags = held(consumer)
    if channel is None or not tags:
        return 0
    now = time.time()
    return int(_broker_redis().zadd(channel.unacked_index_key, dict.fromkeys(tags, now), xx=True, ch=True) or 0)


@functools.cache
def _broker_redis() -> redis.Redis:
    """The broker's Redis, which need not be the platform's (broker.client()): its own client, not the channel's,
    whose connection is the event loop's (BRPOP)."""
    return redis.Redis.from_url(str(settings.CELERY_BROKER_URL), socket_timeout=30, socket_connect_timeout=5)


class Renewer(threading.Thread):
    def __init__(self, consumer: Any, every: float) -> None:
        super().__init__(name="ec-visibility", daemon=True)
        self.consumer = consumer
        self.every = every
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            try:
                renew(self.consumer)
            except redis.RedisError as exc:
                log.warning("could not renew the visibility of the messages this worker holds: %s", exc)
            except Exception:
                log.exception("renewing visibility failed; trying again in %.0f s", self.every)

    def stop(self) -> None:
        self.done.set()
