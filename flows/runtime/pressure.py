"""Back pressure: a socket does not run while a queue its output goes to is over that queue's bound.

Checked before the function runs, so a held message has not run yet: the slot waits (no more messages are taken
while every slot waits), the socket's own queue grows, and the hold travels upstream queue by queue to the sources,
whose schedules skip their slots while their queue or a target is full (flows/runtime/schedules.py). Nothing is
dropped; a bound is kept to within the messages already running when it was reached (at most the workers' slots).

Depths are read with LLEN at most every CHECK_EVERY seconds per queue and per process, so a bounded flow costs one
round trip per queue per interval, not one per message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flows.runtime import broker
from flows.runtime.topology import Route, SocketInfo

CHECK_EVERY = 0.05
# While holding, look again this often (the wait grows to HOLD_MAX_WAIT while the queue stays full).
HOLD_MIN_WAIT = 0.02
HOLD_MAX_WAIT = 0.25


class BackPressure:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depths: dict[str, tuple[int, float]] = {}

    def depth(self, queue_id: str, *, fresh: bool = False) -> int:
        now = time.monotonic()
        with self._lock:
            cached = self._depths.get(queue_id)
        if cached is not None and not fresh and now - cached[1] < CHECK_EVERY:
            return cached[0]
        depth = broker.depth(queue_id)
        with self._lock:
            self._depths[queue_id] = (depth, now)
        return depth

    def published(self, queue_id: str, count: int = 1) -> None:
        """This process just pushed `count` messages to the queue: count them in until the next LLEN, so the slots
        of one worker cannot all pass the same stale reading."""
        with self._lock:
            cached = self._depths.get(queue_id)
            if cached is not None:
                self._depths[queue_id] = (cached[0] + count, cached[1])

    def full(self, routes: tuple[Route, ...], *, fresh: bool = False) -> Route | None:
        """The first route whose target queue is at or over its bound, else None."""
        for route in routes:
            if route.max_length and self.depth(route.target_queue_id, fresh=fresh) >= route.max_length:
                return route
        return None

    def hold(
        self,
        info: SocketInfo,
        stopping: threading.Event,
        on_held: Callable[[float], None] | None = None,
    ) -> bool:
        """Wait while an output queue of `info` is full; False if the worker began stopping meanwhile.

        `on_held(ms)` is told about the waiting as it happens (each wait), so live metrics show a hold that is
        still going on, not only once it ends.
        """
        routes = info.bounded
        if not routes or self.full(routes) is None:
            return True
        wait = HOLD_MIN_WAIT
        while not stopping.is_set():
            started = time.monotonic()
            stopping.wait(wait)
            if on_held is not None:
                on_held((time.monotonic() - started) * 1000)
            if self.full(routes, fresh=True) is None:
                return True
            wait = min(wait * 2, HOLD_MAX_WAIT)
        return False
