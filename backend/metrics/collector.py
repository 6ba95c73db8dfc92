"""Per-second counts in a processor worker (DESIGN §6), flushed once a second, never per message.

The message path calls `record` (a lock and a few additions). A flusher thread wakes just after each wall-clock
second and sends every finished second: one Lua script adds it into the flow's per-second hash and the minute hash
(the rollup moves minutes into PostgreSQL) and refreshes the worker's utilisation; then one `tick` frame per flow
goes to the flow's channel-layer group. The counts are deltas of this worker, so the hashes and the browsers simply
add what several workers send for the same second.
"""

from __future__ import annotations

import json
import logging
import os
import socket as socketlib
import threading
import time
from collections import defaultdict
from typing import Any

import psutil
import redis

from backend.metrics import histogram, publish
from backend.metrics.events import CallError, SocketCounts, TickEvent, WorkerState
from flows.runtime import broker, keys

log = logging.getLogger(__name__)
MAX_ERRORS_PER_SECOND = 5
# Just after the second turns, so that calls finishing in the last microseconds of a second are in its bucket.
FLUSH_DELAY = 0.02

# Index of each field in a socket's counter list; the histogram follows them.
IN, OUT, ERRORS, BYTES_IN, BYTES_OUT, TIME_MS, TIME_MAX, HELD_MS = range(8)
SCALARS = ("in", "out", "errors", "bytes_in", "bytes_out", "time_ms", "time_max", "held_ms")
# How each scalar goes into the hashes: i = HINCRBY, f = HINCRBYFLOAT, m = keep the maximum.
OPS = ("i", "i", "i", "i", "i", "f", "m", "f")

_FLUSH = """
-- KEYS: second hash, minute hash, minutes zset, active set, workers hash
-- ARGV: second ttl, minute ttl, minute, flow id, worker name, worker json ('' = none), then (field, op, value)...
for i = 7, #ARGV, 3 do
  local field, op, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  for k = 1, 2 do
    if op == 'i' then redis.call('HINCRBY', KEYS[k], field, value)
    elseif op == 'f' then redis.call('HINCRBYFLOAT', KEYS[k], field, value)
    else
      local current = tonumber(redis.call('HGET', KEYS[k], field) or '-1')
      if tonumber(value) > current then redis.call('HSET', KEYS[k], field, value) end
    end
  end
end
-- Which workers this second holds: a snapshot says so, and a browser then skips those workers' ticks for it.
redis.call('HSET', KEYS[1], 'worker|' .. ARGV[5], 1)
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
redis.call('EXPIRE', KEYS[4], ARGV[1])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[5], ARGV[5], ARGV[6]) end
return 1
"""


def hash_fields(socket_id: str, counts: list[float], hist: list[int]) -> list[Any]:
    """(field, op, value) triplets of one socket for the flush script; zero fields are left out."""
    out: list[Any] = []
    for name, op, value in zip(SCALARS, OPS, counts, strict=True):
        if value:
            out += [f"{socket_id}|{name}", op, repr(round(value, 3)) if op != "i" else int(value)]
    for index, count in enumerate(hist):
        if count:
            out += [f"{socket_id}|h{index}", "i", count]
    return out


def counts_of(counts: list[float], hist: list[int]) -> SocketCounts:
    return {
        "in": int(counts[IN]),
        "out": int(counts[OUT]),
        "errors": int(counts[ERRORS]),
        "bytes_in": int(counts[BYTES_IN]),
        "bytes_out": int(counts[BYTES_OUT]),
        "time_ms": round(counts[TIME_MS], 3),
        "time_max": round(counts[TIME_MAX], 3),
        "held_ms": round(counts[HELD_MS], 1),
        "hist": list(hist),
    }


class _Second:
    """One flow's counts in one second: per socket [scalars…] and a histogram."""

    __slots__ = ("counts", "errors", "hists")

    def __init__(self) -> None:
        self.counts: dict[str, list[float]] = {}
        self.hists: dict[str, list[int]] = {}
        self.errors: list[CallError] = []

    def socket(self, socket_id: str) -> tuple[list[float], list[int]]:
        counts = self.counts.get(socket_id)
        if counts is None:
            counts = self.counts[socket_id] = [0.0] * len(SCALARS)
            self.hists[socket_id] = histogram.empty()
        return counts, self.hists[socket_id]


class Collector:
    """Thread-safe per-second counters of one worker process."""

    def __init__(self, *, worker: str, processor_id: str, flow_id: str, concurrency: int) -> None:
        self.worker = worker
        self.processor_id = processor_id
        self.flow_id = flow_id
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._seconds: dict[int, dict[str, _Second]] = defaultdict(dict)
        # Busy slots integrated over time: busy-seconds since the last flush.
        self._busy = 0
        self._busy_since = time.monotonic()
        self._busy_seconds = 0.0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = psutil.Process()
        self._process.cpu_percent(None)
        self._children: dict[int, psutil.Process] = {}
        self._host = socketlib.gethostname()

    # The message path -----------------------------------------------------------------------------------------

    def record(
        self,
        *,
        flow_id: str,
        socket_id: str,
        duration_ms: float,
        bytes_in: int,
        out: int = 0,
        bytes_out: int = 0,
        error: CallError | None = None,
    ) -> None:
        """One call of a socket finished (successfully or not)."""
        now = time.time()
        with self._lock:
            second = self._seconds[int(now)].get(flow_id)
            if second is None:
                second = self._seconds[int(now)][flow_id] = _Second()
            counts, hist = second.socket(socket_id)
            counts[IN] += 1
            counts[OUT] += out
            counts[BYTES_IN] += bytes_in
            counts[BYTES_OUT] += bytes_out
            counts[TIME_MS] += duration_ms
            if duration_ms > counts[TIME_MAX]:
                counts[TIME_MAX] = duration_ms
            hist[histogram.bucket_of(duration_ms)] += 1
            if error is not None:
                counts[ERRORS] += 1
                if len(second.errors) < MAX_ERRORS_PER_SECOND:
                    second.errors.append(error)

    def held(self, *, flow_id: str, socket_id: str, ms: float) -> None:
        """Time a slot spent holding a socket's output because a target queue was full (back pressure)."""
        now = time.time()
        with self._lock:
            second = self._seconds[int(now)].get(flow_id)
            if second is None:
                second = self._seconds[int(now)][flow_id] = _Second()
            second.socket(socket_id)[0][HELD_MS] += ms

    def busy(self, delta: int) -> None:
        """A slot started (+1) or finished (-1) a call."""
        now = time.monotonic()
        with self._lock:
            self._busy_seconds += self._busy * (now - self._busy_since)
            self._busy_since = now
            self._busy += delta

    # Flushing -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ec-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Flush everything, the current second too: a stopping worker's last calls still count."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush(everything=True)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stopping.wait(1.0 - (time.time() % 1.0) + FLUSH_DELAY):
            try:
                self.flush(elapsed=time.monotonic() - last)
            except Exception:  # never let a metrics bug take the flusher down
                log.exception("metrics flush failed")
            last = time.monotonic()

    def _take(self, *, everything: bool) -> tuple[dict[int, dict[str, _Second]], float]:
        """The finished seconds (all of them when `everything`), and the busy slot-seconds since the last take."""
        current = int(time.time())
        with self._lock:
            done = {t: flows for t, flows in self._seconds.items() if everything or t < current}
            for t in done:
                del self._seconds[t]
            now = time.monotonic()
            busy_seconds = self._busy_seconds + self._busy * (now - self._busy_since)
            self._busy_seconds, self._busy_since = 0.0, now
        return done, busy_seconds

    def utilisation(self, elapsed: float, busy_seconds: float) -> WorkerState:
        cpu = self._process.cpu_percent(None)
        rss = self._process.memory_info().rss
        try:
            live = {child.pid: child for child in self._process.children()}
        except psutil.Error:
            live = {}
        for pid in list(self._children):
            if pid not in live:
                del self._children[pid]
        for pid, child in live.items():
            try:
                if pid not in self._children:
                    self._children[pid] = child
                    child.cpu_percent(None)  # the first reading of a process is always 0
                    continue
                cpu += self._children[pid].cpu_percent(None)
                rss += self._children[pid].memory_info().rss
            except psutil.Error:
                self._children.pop(pid, None)
        return {
            "name": self.worker,
            "processor_id": self.processor_id,
            "flow_id": self.flow_id,
            "busy": round(busy_seconds / elapsed, 3) if elapsed > 0 else 0.0,
            "concurrency": self.concurrency,
            "cpu_percent": round(cpu, 1),
            "rss_mb": round(rss / 1048576, 1),
            "pid": os.getpid(),
            "host": self._host,
            "at": time.time(),
        }

    def flush(self, *, elapsed: float = 1.0, everything: bool = False) -> int:
        """Send every finished second; the number of (second, flow) frames sent."""
        done, busy_seconds = self._take(everything=everything)
        state = self.utilisation(elapsed, busy_seconds)
        worker_json = json.dumps(state)
        sent = 0
        try:
            client = broker.client()
            if not done:
                client.hset(keys.METRIC_WORKERS, self.worker, worker_json)
                return 0
            script = broker.script(_FLUSH)
            for t, flows in sorted(done.items()):
                minute = t - t % 60
                for flow_id, second in flows.items():
                    fields: list[Any] = []
                    for socket_id, counts in second.counts.items():
                        fields += hash_fields(socket_id, counts, second.hists[socket_id])
                    script(
                        keys=[
                            keys.metric_second(flow_id, t),
                            keys.metric_minute(minute),
                            keys.METRIC_MINUTES,
                            keys.metric_active(t),
                            keys.METRIC_WORKERS,
                        ],
                        args=[
                            keys.METRIC_SECOND_TTL,
                            keys.METRIC_MINUTE_TTL,
                            minute,
                            flow_id,
                            self.worker,
                            worker_json,
                            *fields,
                        ],
                    )
                    tick: TickEvent = {
                        "type": "tick",
                        "flow_id": flow_id,
                        "t": t,
                        "worker": self.worker,
                        "processor_id": self.processor_id,
                        "sockets": {sid: counts_of(counts, second.hists[sid]) for sid, counts in second.counts.items()},
                        "errors": second.errors,
                        "busy": state["busy"],
                        "concurrency": self.concurrency,
                    }
                    publish.send(publish.flow_group(flow_id), {"type": "metrics.tick", "frame": tick})
                    sent += 1
        except redis.RedisError as exc:
            # Counts of this second are lost to the history; the messages themselves are not affected.
            log.warning("metrics: redis unavailable (%s); %d second(s) of counts dropped", exc, len(done))
        return sent
