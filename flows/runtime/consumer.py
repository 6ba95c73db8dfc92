"""Celery's worker consumer, with two fixes for the thread pool on the Redis broker (each measured, see below).

1. Waking the event loop when a pool thread frees a prefetch slot.

With the thread pool, a task's late ack happens in the pool thread. kombu's Redis transport only asks the broker
for more (BRPOP) at the start of an event-loop turn, and not at all while the worker holds as many unacknowledged
messages as its prefetch count. A turn that began with the window full therefore sleeps in poll() until its next
timer, up to a second or more, though a slot freed meanwhile: measured, a `5/s` rate limit ran at 2.2/s, its
gaps a second long. An ack that frees a full window writes one byte to a pipe the event loop watches, so the loop
turns at once and fetches again. Nothing is written while the window has room (the usual case of a flowing hop).

2. One timer per rate-limit bucket. Celery's consumer schedules a new timer each time a message arrives for a
bucket with no token left, and each timer schedules itself again while the bucket holds messages: with a prefetch
window of 16 there were 34 timers, all due at once. kombu's hub fires at most 10 timers a turn and then, having no
delay to wait for, sleeps its default second: a `5/s` rate limit ran at 1/s after the first window. Here a bucket
has at most one timer pending, and the `5/s` test (tests/runtime/test_celery_workers.py) holds.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from celery import bootsteps
from celery.worker.consumer import Consumer as CeleryConsumer

_pipe: tuple[int, int] | None = None


def full(message: Any) -> bool:
    """Whether the channel `message` came on holds as many unacknowledged messages as it may."""
    qos = getattr(getattr(message, "channel", None), "qos", None)
    can_consume = getattr(qos, "can_consume", None)
    return bool(can_consume is not None and not can_consume())


def wake() -> None:
    if _pipe is not None:
        # BlockingIOError: a wake-up is already waiting to be read, and the loop turns anyway.
        with contextlib.suppress(BlockingIOError):
            os.write(_pipe[1], b"x")


class Wakeup(bootsteps.StartStopStep):
    """A consumer bootstep: the read end of the pipe, watched by the worker's event loop (hub)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c: Any) -> None:
        global _pipe
        if c.hub is None or _pipe is not None:
            return
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)

        def drain() -> None:
            try:
                while os.read(read, 4096):
                    pass
            except BlockingIOError:
                pass

        c.hub.add_reader(read, drain)
        _pipe = (read, write)


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """Celery's consumer with at most one pending timer per rate-limit bucket (the module's docstring, 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timed_buckets: set[int] = set()

    def _limit_task(self, request: Any, bucket: Any, tokens: int) -> None:
        bucket.add((request, tokens))
        if id(bucket) not in self._timed_buckets:  # else its timer takes this one in turn
            self._schedule_bucket_request(bucket)

    def _limit_post_eta(self, request: Any, bucket: Any, tokens: int) -> None:
        self.qos.decrement_eventually()  # type: ignore[attr-defined]
        self._limit_task(request, bucket, tokens)

    def _schedule_bucket_request(self, bucket: Any) -> None:
        self._timed_buckets.discard(id(bucket))
        while True:
            try:
                request, tokens = bucket.pop()
            except IndexError:
                return
            if bucket.can_consume(tokens):
                self._limit_move_to_pool(request)  # type: ignore[attr-defined]
                continue
            bucket.contents.appendleft((request, tokens))  # keeps the order
            self._limit_order: int = (self._limit_order + 1) % 10
            self._timed_buckets.add(id(bucket))
            self.timer.call_after(
                bucket.expected_time(tokens), self._schedule_bucket_request, (bucket,), priority=self._limit_order
            )
            return
