"""The processor worker's pool: Celery's thread pool, with the grow and shrink Celery's autoscaler needs.

Celery's own thread pool (`celery.concurrency.thread`) is a `ThreadPoolExecutor` of a fixed size and cannot be
resized, so `--autoscale` needs the prefork pool there. A processor's user code already runs in the warm executor
subprocess each slot drives (context.py), so a process pool would only add a hop. This pool is the same thing
resizable: a queue of calls and one thread per slot; `grow(n)` starts n more slot threads; `shrink(n)` asks n slots
to leave once idle (a slot finishing a call leaves before taking another), and a slot that leaves closes its
executor, so the memory of an idle processor falls back with its slots. Celery's `Autoscaler` drives both (it counts
`num_processes`, what is asked for, not what has left yet). A worker without autoscale uses it at a fixed size.

A slot whose function waits on calls it made (calls.py) serves the pool's other calls meanwhile, on its own thread
and stack (`serve_one`, Girder's way), so a processor that calls itself never starves however few its slots; a
message arriving while slots wait pokes them (a Redis list they block on with their answers).

Stopping is Celery's warm shutdown: the consumer stops first; calls waiting in the queue are dropped unacknowledged
(the broker gives them back, as Celery's thread pool does with `cancel_futures`); running calls finish.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from typing import Any

from celery.concurrency.base import BasePool, apply_target
from celery.worker.autoscale import Autoscaler as CeleryAutoscaler
from django.conf import settings

from flows.runtime import context as runtime_context

log = logging.getLogger(__name__)
_LEAVE = object()  # a slot that takes this from the queue leaves
POKE_TOKENS = 16  # a poke list never holds more: waiting slots only need to know that something came
_current: SlotPool | None = None
_local = threading.local()  # per slot thread: how many calls it is serving nested


def _is_call(item: Any) -> bool:
    """Whether a call handed to the pool carries a message sent by `elasticcode.call` (broker.py's `ec_call` header,
    in the request dict Celery passes to its tracer)."""
    args: tuple[Any, ...] = tuple(item[2] or ())
    request = args[2] if len(args) > 2 else None
    return isinstance(request, dict) and bool(request.get("ec_call"))


def current() -> SlotPool | None:
    """This process's pool, once Celery started it (None elsewhere)."""
    return _current


class ApplyResult:
    """What Celery keeps of a call handed to the pool (celery.concurrency.thread.ApplyResult's shape)."""

    def __init__(self, future: Future[Any]) -> None:
        self.f = future
        self.get = future.result

    def wait(self, timeout: float | None = None) -> None:
        wait([self.f], timeout)


class SlotPool(BasePool):  # type: ignore[misc]
    """A thread per slot over one queue of calls; resizable (see the module docstring)."""

    body_can_be_buffer = True
    signal_safe = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._size = 0  # slots asked for: live threads less those told to leave
        self._started = 0
        self._waiting = 0  # slots waiting on calls (calls.py): a new call pokes them

    # Celery's pool interface ------------------------------------------------------------------------------------

    def on_start(self) -> None:
        global _current
        _current = self
        self.grow(int(self.limit or 1))

    def on_apply(  # type: ignore[override]
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        callback: Callable[..., Any] | None = None,
        accept_callback: Callable[..., Any] | None = None,
        **_: Any,
    ) -> ApplyResult:
        future: Future[Any] = Future()
        self._calls.put((future, target, args, kwargs, callback, accept_callback))
        if self._waiting:
            self._poke()
        return ApplyResult(future)

    def grow(self, n: int = 1) -> None:
        with self._lock:
            for _ in range(n):
                thread = threading.Thread(target=self._slot, name=f"slot-{self._started}", daemon=True)
                self._started += 1
                self._threads.add(thread)
                self._size += 1
                thread.start()
            self.limit = self._size
        self._slots_changed()

    def shrink(self, n: int = 1) -> None:
        with self._lock:
            n = min(n, self._size - 1)  # one slot always stays
            if n <= 0:
                raise ValueError("a pool keeps at least one slot")
            self._size -= n
            self.limit = self._size
        for _ in range(n):
            self._calls.put(_LEAVE)
        self._slots_changed()

    @property
    def num_processes(self) -> int:
        return self._size

    def on_stop(self) -> None:
        self._drop_waiting()
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._calls.put(_LEAVE)
        for thread in threads:
            thread.join()

    def on_terminate(self) -> None:
        self._drop_waiting()
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._calls.put(_LEAVE)

    def _get_info(self) -> dict[str, Any]:
        with self._lock:
            return {
                "implementation": f"{__name__}:{type(self).__name__}",
                "max-concurrency": self._size,
                "threads": len(self._threads),
            }

    # slots waiting on calls (calls.py) ---------------------------------------------------------------------------

    def waiting(self, change: int) -> None:
        with self._lock:
            self._waiting += change

    def serve_one(self) -> bool:
        """Run one message the pool holds on this (waiting) slot's thread, a call made from inside a function first
        (what waiting functions wait for: the stack then grows with the depth of the calls, not with the backlog);
        False when there is none, or this slot already serves ELASTICCODE_CALL_NESTING on its stack."""
        depth = getattr(_local, "depth", 0)
        if depth >= settings.ELASTICCODE_CALL_NESTING:
            return False
        held: list[Any] = []
        item: Any = None
        while True:
            try:
                taken = self._calls.get_nowait()
            except queue.Empty:
                break
            if taken is not _LEAVE and _is_call(taken):
                item = taken
                break
            held.append(taken)
        if item is None:  # no call: the oldest message, if any (never a slot's leave: this one is deep in a call)
            item = next((taken for taken in held if taken is not _LEAVE), None)
            if item is not None:
                held.remove(item)
        for taken in held:  # back, in their order, behind what arrived meanwhile
            self._calls.put(taken)
        if item is None:
            return False
        _local.depth = depth + 1
        try:
            self._run(item)
        finally:
            _local.depth = depth
        return True

    def _poke(self) -> None:
        from flows.runtime import broker, keys  # late: broker imports Django settings and Redis

        context = runtime_context.current()
        if context is None:
            return
        name = keys.worker_poke(context.name)
        try:
            pipe = broker.client().pipeline(transaction=False)
            pipe.lpush(name, "1")
            pipe.ltrim(name, 0, POKE_TOKENS - 1)
            pipe.expire(name, 3600)
            pipe.execute()
        except Exception as exc:  # a waiting slot still looks again within a second
            log.warning("could not poke the slots waiting on calls: %s", exc)

    # the slots --------------------------------------------------------------------------------------------------

    def _run(self, item: Any) -> None:
        future, target, args, kwargs, callback, accept_callback = item
        if not future.set_running_or_notify_cancel():
            return
        try:
            apply_target(target, args, kwargs, callback, accept_callback)
        except BaseException as exc:  # what Celery's trace did not catch; the future holds it, as in its pool
            future.set_exception(exc)
        else:
            future.set_result(None)

    def _slot(self) -> None:
        try:
            while True:
                item = self._calls.get()
                if item is _LEAVE:
                    return
                self._run(item)
        finally:
            context = runtime_context.current()
            if context is not None:
                context.release_executor()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _drop_waiting(self) -> None:
        while True:
            try:
                item = self._calls.get_nowait()
            except queue.Empty:
                return
            if item is not _LEAVE:
                item[0].cancel()

    def _slots_changed(self) -> None:
        context = runtime_context.current()
        if context is not None and context.metrics is not None:
            context.metrics.concurrency = self._size


class Autoscaler(CeleryAutoscaler):  # type: ignore[misc]
    """Celery's autoscaler (`--autoscale=max,min`): slots grow to the messages the worker holds, up to max, and
    shrink back to min once no message came for ELASTICCODE_AUTOSCALE_IDLE seconds. Each change is logged with its
    reason."""

    pool: SlotPool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["keepalive"] = float(settings.ELASTICCODE_AUTOSCALE_IDLE)
        super().__init__(*args, **kwargs)

    def _grow(self, n: int) -> None:
        log.info(
            "autoscale: %d -> %d slots (%d messages held, at most %d slots)",
            self.processes,
            self.processes + n,
            self.qty,
            self.max_concurrency,
        )
        self.pool.grow(n)

    def _shrink(self, n: int) -> None:
        log.info(
            "autoscale: %d -> %d slots (no new message for %.0f s; %d held)",
            self.processes,
            self.processes - n,
            self.keepalive,
            self.qty,
        )
        with contextlib.suppress(ValueError):  # one slot left: nothing to give back
            self.pool.shrink(n)
