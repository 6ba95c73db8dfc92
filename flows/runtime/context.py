"""What a processor worker process serves: set once at start by `manage.py worker`, read by the handler.

Each slot (pool thread, pool.py) of the processor's Celery worker (user code already runs in the executor subprocess,
so the worker needs no process pool of its own) owns one warm executor; a slot the autoscaler retires closes its
own, and the rest are closed when the worker stops.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from flows.runtime.executor import Executor, Limits
from flows.runtime.pressure import BackPressure
from flows.runtime.sandbox import Sandbox
from flows.runtime.taps import TapCache
from flows.runtime.topology import TopologyCache

if TYPE_CHECKING:
    from backend.metrics.collector import Collector


@dataclass
class WorkerContext:
    processor_id: str
    name: str
    python: str
    module: str
    workdir: Path
    limits: Limits
    # The processor's confinement (sandbox.py); None: Landlock only, as the worker's user (tests).
    sandbox: Sandbox | None = None
    commit: str = ""
    lineage: bool = True
    topology: TopologyCache = field(default_factory=TopologyCache)
    pressure: BackPressure = field(default_factory=BackPressure)
    taps: TapCache = field(default_factory=TapCache)
    # Per-second live metrics (backend/metrics/collector.py); None when ELASTICCODE_METRICS is off.
    metrics: Collector | None = None
    # Set when the worker stops: a slot holding for back pressure gives its message back instead of waiting on.
    stopping: threading.Event = field(default_factory=threading.Event)
    _local: threading.local = field(default_factory=threading.local)
    _executors: dict[int, Executor] = field(default_factory=dict)  # by slot number
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def executor(self) -> Executor:
        """This thread's executor, made on first use in a slot (working directory, capture files) of its own."""
        executor: Executor | None = getattr(self._local, "executor", None)
        if executor is None:
            # The slot is taken and recorded in one step: two pool threads starting together must never share
            # a working directory (and with it the capture files of each other's calls). A number a retired slot
            # freed is taken again, so a worker that grows and shrinks keeps reusing the same few directories.
            with self._lock:
                slot = min(set(range(len(self._executors) + 1)) - self._executors.keys())
                executor = Executor(
                    self.python,
                    self.module,
                    workdir=self.workdir / f"slot-{slot}",
                    limits=self.limits,
                    sandbox=self.sandbox,
                )
                self._executors[slot] = executor
            self._local.executor = executor
            self._local.slot = slot
        return executor

    def release_executor(self) -> None:
        """Close this thread's executor, if it has one (its slot is leaving the pool)."""
        executor: Executor | None = getattr(self._local, "executor", None)
        if executor is None:
            return
        with self._lock:
            self._executors.pop(self._local.slot, None)
        self._local.executor = None
        executor.close()

    def close(self) -> None:
        with self._lock:
            executors, self._executors = list(self._executors.values()), {}
        for executor in executors:
            executor.close()


_current: WorkerContext | None = None


def current() -> WorkerContext | None:
    return _current


def install(context: WorkerContext | None) -> None:
    global _current
    _current = context
