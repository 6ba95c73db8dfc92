"""Celery's worker consumer, with three changes for the thread pool on the Redis broker (each measured, see below).

1. Waking the event loop when a pool thread frees a prefetch slot.

With the thread pool, a task's late ack happens in the pool thread. kombu's Redis transport only asks the broker
for more (BRPOP) at the start of an event-loop turn, and not at all while the worker holds as many unacknowledged
messages as its prefetch count. A turn that began with the window full therefore sleeps in poll() until its next
timer, up to a second or more, though a slot freed meanwhile. An ack that frees a full window asks the loop to turn
(kombu's thread-safe `Hub.call_soon`, which wakes its poller), so it fetches again at once. Nothing is asked while
the window has room (the usual case of a flowing hop).

2. One timer per rate-limit bucket. Celery's consumer schedules a new timer each time a message arrives for a
bucket with no token left, and each timer schedules itself again while the bucket holds messages: with a prefetch
window of 16 there were 34 timers, all due at once. kombu's hub fires at most 10 timers a turn and then, having no
delay to wait for, sleeps its default second: a `5/s` rate limit ran at 1/s after the first window. Here a bucket
has at most one timer pending, and the `5/s` test (tests/runtime/test_celery_workers.py) holds.

3. Task events in batches. Celery buffers task events and publishes what is buffered at the next loop turn, which
under load is after every message: py-spy found 40 % of the event-loop thread publishing events, one PUBLISH round
trip each, in the thread that also takes every message. Here the buffer is published at most every
EVENT_FLUSH_SECONDS (one `task-multi` message for all of them), so Flower still sees every task within a tenth of a
second.
"""

from __future__ import annotations

import threading
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

EVENT_FLUSH_SECONDS = 0.1
_hub: Any = None
_consumer: Any = None


def full(message: Any) -> bool:
    """Whether the channel `message` came on holds as many unacknowledged messages as it may."""
    qos = getattr(getattr(message, "channel", None), "qos", None)
    can_consume = getattr(qos, "can_consume", None)
    return bool(can_consume is not None and not can_consume())


def _turn() -> None:
    """Nothing to do: being called is the point (the event loop turned, and fetches again if it may)."""


def wake() -> None:
    """Make the worker's event loop turn now (safe from any thread)."""
    if _hub is not None:
        _hub.call_soon(_turn)


def lend(change: int) -> None:
    """Widen (or narrow back) the prefetch window by `change`: a message whose function waits on its calls
    (calls.py) still counts as unacknowledged, and would otherwise keep out the very messages it waits for. Celery
    widens it the same way for the ETA tasks a worker holds (QoS.increment_eventually; the loop applies it)."""
    consumer = _consumer
    if consumer is None or getattr(consumer, "qos", None) is None:
        return
    if change > 0:
        consumer.qos.increment_eventually(change)
    else:
        consumer.qos.decrement_eventually(-change)
    wake()


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """Celery's consumer with the module docstring's changes."""

    hub: Any  # set by Celery (celery-types does not declare it)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timed_buckets: set[int] = set()
        self._flush_lock = threading.Lock()
        self._flush_due = False

    def loop_args(self) -> tuple[Any, ...]:
        global _hub, _consumer
        _hub = self.hub  # the loop is about to run: wake() may reach it from now on
        _consumer = self
        return tuple(super().loop_args())

    # 3. task events in batches ---------------------------------------------------------------------------------

    def on_send_event_buffered(self) -> None:  # type: ignore[override]
        """Called by whichever thread buffered an event: the first since the last flush plans the next one."""
        if self.hub is None:
            super().on_send_event_buffered()
            return
        with self._flush_lock:
            if self._flush_due:
                return
            self._flush_due = True
        self.hub.call_soon(self._plan_flush)

    def _plan_flush(self) -> None:
        self.hub.call_later(EVENT_FLUSH_SECONDS, self._flush_batch)

    def _flush_batch(self) -> None:
        # Cleared before flushing: an event buffered from here on plans a flush of its own, so none is left behind.
        with self._flush_lock:
            self._flush_due = False
        self._flush_events()  # type: ignore[attr-defined]

    # 2. one timer per rate-limit bucket ------------------------------------------------------------------------

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
