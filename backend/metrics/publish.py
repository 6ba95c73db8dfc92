"""Sending channel-layer events from sync processes (workers, agents) without blocking them.

One daemon thread per process runs an event loop that owns the channel layer's Redis connections (channels-redis
keeps a pool per loop, so a fresh `async_to_sync` loop per send would reconnect every time). `send` hands the
coroutine over and returns at once: a worker's message path never waits for a browser, and a Redis hiccup costs a
dropped frame (the channel layer is at most once anyway; browsers resync from Redis).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future
from typing import Any

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)
# At most this many sends waiting: if the layer is unreachable, frames are dropped rather than piled up.
MAX_PENDING = 200
WARN_EVERY = 30.0


def flow_group(flow_id: object) -> str:
    return f"flow_{flow_id}"


CLUSTER_GROUP = "metrics_cluster"


class Publisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = 0
        self._last_warning = 0.0

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="ec-publish", daemon=True).start()
                self._loop = loop
            return self._loop

    def send(self, group: str, event: dict[str, Any]) -> Future[None] | None:
        """Queue `event` for every consumer in `group`; None when it was dropped (too many waiting)."""
        with self._lock:
            if self._pending >= MAX_PENDING:
                self._warn("channel layer is not keeping up: dropping live frames")
                return None
            self._pending += 1
        future = asyncio.run_coroutine_threadsafe(self._send(group, event), self._ensure_loop())
        return future

    async def _send(self, group: str, event: dict[str, Any]) -> None:
        try:
            layer = get_channel_layer()
            if layer is not None:
                await layer.group_send(group, event)
        except Exception as exc:  # a live frame is best effort; the next second brings the next one
            self._warn(f"channel layer unavailable ({exc}); live frames are dropped until it is back")
        finally:
            with self._lock:
                self._pending -= 1

    def _warn(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY:
            self._last_warning = now
            log.warning(text)


_publisher = Publisher()


def send(group: str, event: dict[str, Any]) -> Future[None] | None:
    return _publisher.send(group, event)
