"""The web process's once-a-second job while someone watches: queue depths of watched flows, and the cluster frame.

One sampler per web process, started by the first websocket that needs it and ended when the last one leaves. A
Redis once-per-second lock per flow (and one for the cluster) means that with several web processes one of them
samples and sends to the group, which reaches the browsers on every process. Worker ticks do not pass through
here: they go from the workers to the flow's group directly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, deque
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from backend.metrics import live, publish
from backend.metrics.events import ClusterEvent, DepthsEvent, NodeState, SocketCounts, SocketRank
from flows.runtime import broker, keys

log = logging.getLogger(__name__)
# After the second turns: workers flush at +0.02 s, so the finished second is complete in Redis by now.
SAMPLE_DELAY = 0.25
TOP = 10

_DEPTH_MAX = """
-- KEYS: minute hash, minutes zset; ARGV: minute ttl, minute, then (field, depth) pairs: keep the deepest sample
for i = 3, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > current then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
-- A minute with depth samples and no calls (a stopped processor's backlog) is rolled up too.
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
return 1
"""


class Sampler:
    def __init__(self) -> None:
        self.flows: Counter[str] = Counter()
        self.cluster = 0
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Errors per socket over the last minute, kept from the seconds this process read (for top_errors).
        self._errors: deque[tuple[int, dict[str, int]]] = deque(maxlen=live.WINDOW)

    # Who watches ----------------------------------------------------------------------------------------------

    def watch_flow(self, flow_id: str) -> None:
        self.flows[flow_id] += 1
        self._ensure()

    def unwatch_flow(self, flow_id: str) -> None:
        self.flows[flow_id] -= 1
        if self.flows[flow_id] <= 0:
            del self.flows[flow_id]

    def watch_cluster(self) -> None:
        self.cluster += 1
        self._ensure()

    def unwatch_cluster(self) -> None:
        self.cluster = max(0, self.cluster - 1)

    def _ensure(self) -> None:
        loop = asyncio.get_running_loop()
        # A task belongs to its loop: tests run each communicator on a loop of its own.
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._task = loop.create_task(self._run())

    # The loop -------------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        layer = get_channel_layer()
        while self.flows or self.cluster:
            await asyncio.sleep(1.0 - time.time() % 1.0 + SAMPLE_DELAY)
            second = int(time.time()) - 1
            try:
                entries = await database_sync_to_async(live.directory.entries)()
                nodes = await database_sync_to_async(live.nodes)() if self.cluster else []
                frames = await sync_to_async(self.sample, thread_sensitive=False)(
                    second, list(self.flows), self.cluster > 0, entries, nodes
                )
                for group, event in frames:
                    await layer.group_send(group, event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live metrics sampler failed; trying again next second")

    def sample(
        self,
        second: int,
        flow_ids: list[str],
        cluster: bool,
        entries: list[live.SocketEntry],
        nodes: list[NodeState],
    ) -> list[tuple[str, dict[str, Any]]]:
        """The frames to send for `second` (Redis only: runs in a worker thread)."""
        client = broker.client()
        frames: list[tuple[str, dict[str, Any]]] = []
        for flow_id in flow_ids:
            if not client.set(f"{keys.PREFIX}:m:sampled:{flow_id}:{second}", "1", nx=True, ex=5):
                continue  # another web process samples this flow this second
            depths = live.sample_depths([e for e in entries if e.flow_id == flow_id], second)
            client.set(keys.metric_depths(flow_id), json.dumps(depths), ex=10)
            if depths:
                minute = second - second % 60
                args: list[Any] = [keys.METRIC_MINUTE_TTL, minute]
                for socket_id, depth in depths.items():
                    args += [f"{socket_id}|depth", depth["depth"]]
                broker.script(_DEPTH_MAX)(keys=[keys.metric_minute(minute), keys.METRIC_MINUTES], args=args)
            frame: DepthsEvent = {"type": "depths", "flow_id": flow_id, "t": second, "sockets": depths}
            frames.append((publish.flow_group(flow_id), {"type": "metrics.depths", "frame": frame}))
        if cluster:
            counts = live.read_second(live.active_flows(second), second)
            self._remember_errors(second, counts)
            if client.set(f"{keys.PREFIX}:m:sampled:cluster:{second}", "1", nx=True, ex=5):
                frames.append(
                    (
                        publish.CLUSTER_GROUP,
                        {"type": "metrics.cluster", "frame": self.cluster_frame(second, counts, entries, nodes)},
                    )
                )
        return frames

    def _remember_errors(self, second: int, counts: dict[str, dict[str, SocketCounts]]) -> None:
        errors = {sid: c["errors"] for sockets in counts.values() for sid, c in sockets.items() if c["errors"]}
        self._errors.append((second, errors))

    def cluster_frame(
        self,
        second: int,
        counts: dict[str, dict[str, SocketCounts]],
        entries: list[live.SocketEntry],
        nodes: list[NodeState],
    ) -> ClusterEvent:
        """Everything in the cluster; each consumer filters it to what its user may see."""
        by_id = {entry.id: entry for entry in entries}
        names = {entry.flow_id: entry.flow for entry in entries}
        failing: Counter[str] = Counter()
        for t, errors in list(self._errors):
            if t > second - live.WINDOW:
                failing.update(errors)
        top_errors = [rank(by_id[sid], float(n)) for sid, n in failing.most_common() if sid in by_id][
            : TOP * 5
        ]  # consumers filter, then keep TOP
        depths = live.sample_depths(entries, second) if entries else {}
        deepest = sorted(
            (rank(by_id[sid], float(d["depth"])) for sid, d in depths.items() if d["depth"] > 0),
            key=lambda r: -r["value"],
        )[: TOP * 5]
        return {
            "type": "cluster",
            "t": second,
            "nodes": nodes,
            "workers": live.workers(),
            "flows": live.flow_totals(counts, names),
            "top_errors": top_errors,
            "deepest": deepest,
        }


def rank(entry: live.SocketEntry, value: float) -> SocketRank:
    return {
        "socket_id": entry.id,
        "socket": entry.name,
        "processor_id": entry.processor_id,
        "flow_id": entry.flow_id,
        "flow": entry.flow,
        "value": value,
        "max": entry.max,
    }


sampler = Sampler()
