"""Socket queues on the broker, and the platform's Redis client.

The platform's Redis (REDIS_URL) holds all state that is not a queue: completion marks, traces, sink results,
dead letters, lineage waiting to be written, metrics. The socket queues are on the Celery broker
(CELERY_BROKER_URL). When that is the same Redis (the default, `make run`), a socket queue is the Redis list
kombu's transport consumes, and messages are pushed onto it in Celery's own message format (see `encode`), so a
hop's children are pushed in the same Lua step that marks the hop complete (`on_redis`). Any other broker
(RabbitMQ) is reached through kombu (flows/runtime/kombu_broker.py). Either way a message is kept even if no
worker ever consumed the queue.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import redis
from django.conf import settings

from flows.runtime import keys, kombu_broker, redis_transport
from flows.runtime.envelope import TASK_NAME, Envelope

log = logging.getLogger(__name__)
T = TypeVar("T")

# A broker that restarts (AOF on) is waited for, not given up on: messages are only delayed.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_ORIGIN = f"ec-{os.getpid()}@{socket.gethostname()}"
# kombu's Redis transport keys a taken message's acknowledgement by its delivery tag, which must be unique: a random
# prefix per process and a counter make one without a uuid4 (os.urandom) per message, which py-spy found costing 3 %
# of a worker under load. Forked children make a prefix of their own.
_tags = itertools.count()
_tag_prefix = (os.getpid(), uuid.uuid4().hex)


def _delivery_tag() -> str:
    global _tag_prefix, _tags
    if _tag_prefix[0] != os.getpid():
        _tag_prefix, _tags = (os.getpid(), uuid.uuid4().hex), itertools.count()
    return f"{_tag_prefix[1]}.{next(_tags)}"


REDIS_OUTAGE_SECONDS = 120.0


@functools.cache
def client() -> redis.Redis:
    """The platform's Redis (REDIS_URL)."""
    return redis.Redis.from_url(
        str(settings.REDIS_URL or settings.CELERY_BROKER_URL),
        health_check_interval=30,
        socket_keepalive=True,
        socket_timeout=30,
        socket_connect_timeout=5,
    )


@functools.cache
def on_redis() -> bool:
    """Whether the broker is the platform's Redis, so that socket queues are lists beside the state."""
    broker_url = str(settings.CELERY_BROKER_URL or "")
    return broker_url.startswith(("redis://", "rediss://", "unix://")) and broker_url == str(
        settings.REDIS_URL or broker_url
    )


_scripts: dict[str, Any] = {}


def script(source: str) -> Any:
    """A registered Lua script (EVALSHA, loaded again by redis-py after a broker restart), one per source."""
    registered = _scripts.get(source)
    if registered is None:
        registered = _scripts[source] = client().register_script(source)
    return registered


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


def _headers(envelope: Envelope) -> dict[str, Any]:
    """Celery's task protocol 2 headers of the socket task carrying `envelope`."""
    return {
        "lang": "py",
        "task": TASK_NAME,
        "id": envelope["id"],
        # Flower, `celery events` and the worker's log show this instead of "ec.socket": which socket it is for.
        "shadow": f"{TASK_NAME}:{envelope['socket_name']}" if envelope.get("socket_name") else None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": envelope["trace_id"],
        "parent_id": envelope["parent_id"],
        "argsrepr": "",
        "kwargsrepr": "",
        "origin": _ORIGIN,
        "ignore_result": True,
        # A call made from inside a function (calls.py): a slot waiting on its own calls serves these first.
        "ec_call": bool(envelope.get("stack")),
    }


def _body(envelope: Envelope) -> list[Any]:
    return [[envelope], {}, _EMBED]


def encode(queue_id: str, envelope: Envelope) -> tuple[str, str]:
    """(list key, entry): the message exactly as Celery's producer and kombu's Redis transport would store it
    (task protocol 2, JSON, base64 body), built here so a hop's children and its completion mark can go to Redis in
    one transaction instead of one round trip per child through Celery's producer."""
    name = keys.queue(queue_id)
    body = json.dumps(_body(envelope), separators=(",", ":"))
    message = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": _headers(envelope),
        "properties": {
            "correlation_id": envelope["id"],
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": name},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": _delivery_tag(),
        },
    }
    return name, json.dumps(message, separators=(",", ":"))


def queue_messages(pipe: redis.client.Pipeline, messages: Iterable[tuple[str, Envelope]]) -> None:
    """Add the LPUSHes of `messages` to `pipe` (kombu pushes left and pops right: first in, first out), and a wake
    token for each queue's waiting workers (flows/runtime/redis_transport.py)."""
    woken: set[str] = set()
    for queue_id, envelope in messages:
        name, entry = encode(queue_id, envelope)
        pipe.lpush(name, entry)
        if name not in woken:
            woken.add(name)
            redis_transport.add_wake(pipe, name)


def publish(messages: Iterable[tuple[str, Envelope]]) -> int:
    """Send each (queue id, envelope) to that queue (on Redis in one round trip); waits through a broker restart.
    The bytes of JSON published (on Redis, 0: its entries are counted where they are built, `encode`)."""
    batch = list(messages)
    if not batch:
        return 0
    if not on_redis():
        return kombu_broker.publish(
            (queue_id, _headers(env), {"correlation_id": env["id"]}, json.dumps(_body(env), separators=(",", ":")))
            for queue_id, env in batch
        )

    def send() -> None:
        pipe = client().pipeline(transaction=True)
        queue_messages(pipe, batch)
        pipe.execute()

    patient(send)
    return 0


def depths(queue_ids: Sequence[str]) -> list[int]:
    """How many messages wait in each queue (on RabbitMQ: ready ones, not those taken and unacknowledged)."""
    if not queue_ids:
        return []
    if not on_redis():
        return kombu_broker.depths(queue_ids)
    pipe = client().pipeline(transaction=False)
    for queue_id in queue_ids:
        pipe.llen(keys.queue(queue_id))
    return [int(depth) for depth in pipe.execute()]


def depth(queue_id: str) -> int:
    return depths([queue_id])[0]


def peek(queue_id: str, limit: int) -> list[Any]:
    """The envelopes of the next `limit` messages, oldest first, left in the queue (an entry that is not one of
    ours comes back as its raw bytes)."""
    if limit <= 0:
        return []
    if not on_redis():
        return kombu_broker.peek(queue_id, limit)
    # kombu pushes on the left and pops on the right: the oldest message is last.
    raw: list[bytes] = client().lrange(keys.queue(queue_id), -limit, -1)  # type: ignore[assignment]
    out: list[Any] = []
    for item in reversed(raw):
        try:
            out.append(decode(item)["envelope"])
        except (ValueError, KeyError, IndexError, TypeError, RecursionError):
            out.append(item)
    return out


def forget_wakes(queue_ids: Sequence[str]) -> None:
    """Delete the wake lists of queues that are gone (flows/runtime/redis_transport.py); nothing on other brokers."""
    if queue_ids and on_redis():
        patient(lambda: client().delete(*(redis_transport.wake(keys.queue(q)) for q in queue_ids)))


def purge(queue_id: str) -> int:
    """Remove every waiting message; how many there were."""
    if not on_redis():
        return kombu_broker.purge(queue_id)
    pipe = client().pipeline(transaction=True)
    pipe.llen(keys.queue(queue_id))
    pipe.delete(keys.queue(queue_id), redis_transport.wake(keys.queue(queue_id)))
    return int(pipe.execute()[0])


def decode(raw: bytes) -> dict[str, Any]:
    """A kombu Redis list entry → {"envelope": ..., "headers": ...} (for peeking at a queue)."""
    return decode_message(json.loads(raw))


def decode_message(message: dict[str, Any]) -> dict[str, Any]:
    body = message.get("body", "")
    if message.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args, _kwargs, _embed = json.loads(body)
    return {"envelope": args[0] if args else None, "headers": message.get("headers", {})}
