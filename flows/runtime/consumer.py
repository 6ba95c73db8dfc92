"""A processor worker's consumer: takes messages off the processor's socket queues and runs them on its slots.

In place of Celery's worker (DESIGN §4 as first written): Celery's consumer takes one message per round trip, builds
request objects, hands each to a pool and acknowledges it in another round trip, and that per-message machinery,
not the user's function, was most of a hop's cost (docs/benchmarks.md). Here one fetcher thread per queue takes
as many messages as there are free slots in one Lua step (or waits in BLMOVE when the queue is empty), the
`concurrency` runner threads each drive one warm executor subprocess, and the acknowledgement is part of the
completion script. Messages keep Celery's format on the same Redis lists.

Signals (from the agent): SIGTERM/SIGINT stop warmly (running calls finish, taken-but-not-started messages go back
to the head of their queues), SIGUSR1 pauses (nothing more is taken; anything taken after the pause goes back),
SIGUSR2 resumes.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import uuid
from collections.abc import Callable

import redis
from django.db import DatabaseError

from flows.runtime import broker, keys
from flows.runtime import delivery as deliveries
from flows.runtime.context import WorkerContext
from flows.runtime.delivery import Delivery
from flows.runtime.handler import Requeued, dead_letter_internal, handle
from flows.runtime.housekeeping import BEAT_EVERY, Housekeeper

log = logging.getLogger(__name__)
# How long an idle fetcher blocks in BLMOVE before it looks at stop and pause again.
WAIT_SECONDS = 1
INTERNAL_ERROR_PAUSE = 1.0


class Consumer:
    def __init__(
        self,
        context: WorkerContext,
        *,
        queue_ids: list[str],
        concurrency: int,
        prefetch: int,
        ready_key: str,
        paused: bool = False,
    ) -> None:
        self.context = context
        self.queue_ids = queue_ids
        self.concurrency = max(1, concurrency)
        self.id = f"{context.processor_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.ready_key = ready_key
        # Messages taken and not yet finished (waiting in `work` or running): at most `prefetch`.
        self.room = threading.Semaphore(max(self.concurrency, prefetch))
        self.work: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()
        self.stopping = context.stopping
        self.paused = threading.Event()
        if paused:
            self.paused.set()
        self.exit_code = 0

    # Signals -------------------------------------------------------------------------------------------------

    def install_signals(self) -> None:
        handlers: dict[int, Callable[[], None]] = {
            signal.SIGTERM: self.stop,
            signal.SIGINT: self.stop,
            signal.SIGUSR1: self.pause,
            signal.SIGUSR2: self.resume,
        }
        for signum, action in handlers.items():
            signal.signal(signum, lambda _signum, _frame, action=action: action())  # type: ignore[misc]

    def stop(self) -> None:
        if not self.stopping.is_set():
            log.info("consumer %s stopping: running calls finish, waiting messages go back", self.id)
        self.stopping.set()

    def pause(self) -> None:
        log.info("consumer %s paused", self.id)
        self.paused.set()

    def resume(self) -> None:
        log.info("consumer %s resumed", self.id)
        self.paused.clear()

    # Running -------------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; the exit code (non-zero after an error the consumer could not recover from)."""
        broker.patient(lambda: deliveries.beat(self.id, self.queue_ids))
        housekeeper = Housekeeper(lineage=False)
        housekeeper.start()
        if self.context.metrics is not None:
            self.context.metrics.start()
        beating = threading.Event()
        threading.Thread(target=self._beat, args=(beating,), name="ec-alive", daemon=True).start()
        runners = [
            threading.Thread(target=self._run_messages, name=f"ec-slot-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        fetchers = [
            threading.Thread(target=self._fetch, args=(queue_id,), name=f"ec-fetch-{queue_id}", daemon=True)
            for queue_id in self.queue_ids
        ]
        for thread in runners + fetchers:
            thread.start()
        broker.patient(lambda: broker.client().set(self.ready_key, os.getpid(), ex=7 * 24 * 3600))
        log.info("consumer %s serving %d queue(s) with %d slot(s)", self.id, len(self.queue_ids), self.concurrency)
        try:
            while not self.stopping.wait(0.5):
                pass
            for thread in fetchers:
                thread.join()
            for _ in runners:
                self.work.put(None)
            for thread in runners:
                thread.join()
        finally:
            beating.set()
            housekeeper.stop()
            if self.context.metrics is not None:
                self.context.metrics.stop()
            try:
                # Whatever was taken and not finished goes back now, not after the alive key expires.
                moved = deliveries.restore(self.id, self.queue_ids, force=True)
                if moved:
                    log.info("consumer %s gave back %d waiting message(s)", self.id, moved)
                broker.client().delete(self.ready_key)
            except redis.RedisError as exc:
                log.warning(
                    "consumer %s could not give back its messages now (%s); they return when its alive key expires",
                    self.id,
                    exc,
                )
            self.context.close()
        return self.exit_code

    def _beat(self, done: threading.Event) -> None:
        """Its own thread, so that a slow chore (lineage into a struggling database) can never make a live
        consumer look dead."""
        while not done.wait(BEAT_EVERY):
            try:
                deliveries.beat(self.id, self.queue_ids)
            except redis.RedisError as exc:
                log.warning("consumer %s: redis unavailable for the alive key (%s)", self.id, exc)

    def _fetch(self, queue_id: str) -> None:
        inflight = keys.inflight(self.id, queue_id)
        while not self.stopping.is_set():
            if self.paused.is_set():
                self.stopping.wait(0.2)
                continue
            if not self.room.acquire(timeout=0.5):
                continue
            slots = 1
            while self.room.acquire(blocking=False):
                slots += 1
            try:
                raws = deliveries.fetch(queue_id, inflight, slots)
                if not raws:
                    for _ in range(slots - 1):
                        self.room.release()
                    slots = 1
                    raw = deliveries.wait(queue_id, inflight, WAIT_SECONDS)
                    raws = [raw] if raw is not None else []
            except redis.RedisError as exc:
                for _ in range(slots):
                    self.room.release()
                log.warning("consumer %s: redis unavailable while taking messages (%s)", self.id, exc)
                self.stopping.wait(0.5)
                continue
            for _ in range(slots - len(raws)):
                self.room.release()
            for raw in raws:
                self._accept(queue_id, inflight, raw)

    def _accept(self, queue_id: str, inflight: str, raw: bytes) -> None:
        try:
            delivery = deliveries.parse(queue_id, inflight, raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            broker.patient(lambda: deliveries.quarantine(queue_id, inflight, raw))
            log.error(
                "queue %s: a message that is not an ElasticCode envelope (%s) was moved to %s",
                queue_id,
                exc,
                keys.quarantine(queue_id),
            )
            self.room.release()
            return
        if self.paused.is_set() or self.stopping.is_set():
            deliveries.requeue(delivery, front=True)
            self.room.release()
            return
        self.work.put(delivery)

    def _run_messages(self) -> None:
        while True:
            delivery = self.work.get()
            if delivery is None:
                return
            try:
                if self.stopping.is_set():
                    continue  # stays in flight; given back when the consumer exits
                self._run_one(delivery)
            finally:
                self.room.release()

    def _run_one(self, delivery: Delivery) -> None:
        try:
            handle(self.context, delivery)
        except Requeued:
            pass
        except (redis.RedisError, DatabaseError):
            # Infrastructure trouble (broker or database gone for longer than we wait): put the message back.
            log.exception(
                "message %s of socket %s put back: the broker or the database is unavailable",
                delivery.envelope["id"],
                delivery.envelope["socket_id"],
            )
            self._put_back(delivery)
        except Exception as exc:
            # Anything else is this message's own trouble: put back, it would fail again at once, for ever, ahead
            # of every other message of the queue. It goes to the dead letters with the reason instead.
            log.exception(
                "message %s of socket %s dead-lettered after an internal error",
                delivery.envelope["id"],
                delivery.envelope["socket_id"],
            )
            try:
                dead_letter_internal(delivery, exc)
            except redis.RedisError:
                self._put_back(delivery)
            except Exception:
                # Not even a dead letter can be written of it: kept aside for a person, never run again.
                log.exception("message %s moved to %s", delivery.envelope["id"], keys.quarantine(delivery.queue_id))
                broker.patient(lambda: deliveries.quarantine(delivery.queue_id, delivery.inflight, delivery.raw))

    def _put_back(self, delivery: Delivery) -> None:
        try:
            deliveries.requeue(delivery, front=True)
        except redis.RedisError:
            log.exception("consumer %s cannot reach redis; exiting so its messages are restored", self.id)
            self.exit_code = 1
            self.stop()
        self.stopping.wait(INTERNAL_ERROR_PAUSE)
