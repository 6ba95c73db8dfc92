"""What a processor worker process serves: set once at start by `manage.py worker`, read by the handler.

Each of the consumer's runner threads (user code already runs in the executor subprocess, so the worker needs no
process pool of its own) owns one warm executor; they are all closed when the worker stops.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from flows.runtime.executor import Executor, Limits
from flows.runtime.topology import TopologyCache


@dataclass
class WorkerContext:
    processor_id: str
    name: str
    python: str
    module: str
    workdir: Path
    limits: Limits
    commit: str = ""
    lineage: bool = True
    topology: TopologyCache = field(default_factory=TopologyCache)
    _local: threading.local = field(default_factory=threading.local)
    _executors: list[Executor] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def executor(self) -> Executor:
        executor: Executor | None = getattr(self._local, "executor", None)
        if executor is None:
            with self._lock:
                slot = len(self._executors)
            executor = Executor(self.python, self.module, workdir=self.workdir / f"slot-{slot}", limits=self.limits)
            with self._lock:
                self._executors.append(executor)
            self._local.executor = executor
        return executor

    def close(self) -> None:
        with self._lock:
            executors, self._executors = self._executors, []
        for executor in executors:
            executor.close()


_current: WorkerContext | None = None


def current() -> WorkerContext | None:
    return _current


def install(context: WorkerContext | None) -> None:
    global _current
    _current = context
