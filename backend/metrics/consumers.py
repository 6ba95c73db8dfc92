"""The live websockets: /ws/flows/<id>/ and /ws/metrics/ (the protocol is in backend/metrics/events.py).

Every refusal first accepts the handshake, sends an `error` frame that says why, and closes with a 44xx code: a
browser cannot read the reason of a refused handshake, and a client must know whether retrying can help (4401,
4403 and 4404 say it cannot). Nothing a client sends can raise: frames are checked before anything reads them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host

from backend import jsonlimits
from backend.metrics import live, presence, publish
from backend.metrics.events import (
    CLOSE_BAD_FRAME,
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
    ClusterEvent,
    FlowSnapshot,
)
from backend.metrics.sampler import TOP, sampler
from flows.models import Flow, Plug, Socket
from flows.permissions import flows_for, has_flow_perm, processors_for
from flows.runtime import taps

MAX_FRAME = 4096  # clients only ever send tiny control frames
MAX_TAPS = 4  # taps one connection may hold at once
TAP_RENEW = 10.0  # seconds between renewals of a tap's lease (taps.TAP_LEASE is 30)
TAP_POLL = 0.25  # seconds between reads of a tap's stream while it is quiet
VISIBILITY_TTL = 30.0  # how long a cluster watcher's list of visible flows is trusted before it is read again


def origin_refusal(scope: dict[str, Any]) -> str:
    """'' when the Origin header is absent (a non-browser client) or names this site; else why it is refused.

    The same rule as Django's CSRF origin check: the origin's host must be this request's host, an allowed host,
    or a trusted origin.
    """
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not origin:
        return ""
    if origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
        return ""
    parts = urlsplit(origin)
    host = headers.get(b"host", b"").decode("latin-1")
    if parts.netloc and parts.netloc == host:
        return ""
    allowed = list(settings.ALLOWED_HOSTS) or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    if parts.hostname and validate_host(parts.hostname, allowed):
        return ""
    return f"origin {origin} may not open this websocket: open the page from {host or 'this server'}"


class LiveConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Shared handshake checks and control frames."""

    group = ""

    async def connect(self) -> None:
        await self.accept()
        refusal = origin_refusal(self.scope)
        if refusal:
            await self.refuse(CLOSE_FORBIDDEN_ORIGIN, refusal)
            return
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            reason = self.scope.get("auth_error") or (
                "log in first: a browser session, or an `Authorization: Token <key>` header"
            )
            await self.refuse(CLOSE_UNAUTHENTICATED, reason)
            return
        await self.start(user)

    async def start(self, user: Any) -> None:
        raise NotImplementedError

    async def snapshot(self) -> dict[str, Any]:
        raise NotImplementedError

    async def refuse(self, code: int, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})
        await self.close(code=code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_FRAME:
            await self.refuse(CLOSE_BAD_FRAME, f"send JSON text frames of at most {MAX_FRAME} bytes")
            return
        try:
            content = jsonlimits.loads(text_data)  # the API's policy: no frame too deep to read, no lone surrogates
        except ValueError:
            await self.refuse(CLOSE_BAD_FRAME, 'frames must be JSON objects such as {"type": "ping"}')
            return
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong", "t": time.time()})
            await self.pinged()
        elif kind == "resync" and self.group:
            await self.send_json(await self.snapshot())
        elif not await self.control(str(kind), content):
            await self.refuse(CLOSE_BAD_FRAME, f'unknown frame type {kind!r}: send "ping" or "resync"')

    async def control(self, kind: str, content: dict[str, Any]) -> bool:
        """Frames of a particular websocket; False: not one of them."""
        return False

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.stop_watching()
            self.group = ""

    def stop_watching(self) -> None:
        pass

    async def pinged(self) -> None:
        pass


class FlowConsumer(LiveConsumer):
    """/ws/flows/<id>/: ticks, depths and status of one flow; who else has it open (`presence`) and each save of
    its graph (`saved`: version, by whom, and the saving tab's client id so that tab can ignore its own)."""

    flow_id = ""
    username = ""

    # Taps (flows/runtime/taps.py): {"type": "tap", "plug": id} or {"type": "tap", "socket": id}, optionally with
    # "sample" and "rate"; {"type": "untap", "target": id}. Each tap answers `tap` frames {"type": "tap", "target",
    # "kind", "events": [...]} as messages pass, and a `tapping` frame when it starts.
    async def control(self, kind: str, content: dict[str, Any]) -> bool:
        if kind == "tap" and self.flow_id:
            await self._tap(content)
            return True
        if kind == "untap" and self.flow_id:
            task = self.taps.pop(str(content.get("target") or ""), None)
            if task is not None:
                task.cancel()
            return True
        return False

    async def _tap(self, content: dict[str, Any]) -> None:
        kind = "plug" if "plug" in content else "socket"
        target = str(content.get(kind) or "")
        if not live.valid_uuid(target) or not await database_sync_to_async(_in_flow)(kind, target, self.flow_id):
            await self.send_json({"type": "error", "message": f"no {kind} {target} in this flow"})
            return
        if target not in self.taps and len(self.taps) >= MAX_TAPS:
            await self.send_json({"type": "error", "message": f"at most {MAX_TAPS} taps at once: untap one first"})
            return
        try:
            sample = min(max(float(content.get("sample", 1.0)), 0.001), 1.0)
            rate = min(max(float(content.get("rate", taps.DEFAULT_RATE)), 0.1), taps.MAX_RATE)
        except (TypeError, ValueError):
            await self.send_json({"type": "error", "message": "sample and rate are numbers"})
            return
        old = self.taps.pop(target, None)
        if old is not None:
            old.cancel()
        self.taps[target] = asyncio.ensure_future(self._watch(kind, target, sample, rate))
        await self.send_json({"type": "tapping", "target": target, "kind": kind, "sample": sample, "rate": rate})

    async def _watch(self, kind: str, target: str, sample: float, rate: float) -> None:
        """Renew the tap's lease and pass its events on, until untapped or disconnected. The stream is read without
        blocking, every TAP_POLL seconds: a blocking read would hold one of the few threads every connection of this
        server shares for as long as the tap is open."""
        read = sync_to_async(taps.read, thread_sensitive=False)
        cursors = {target: await sync_to_async(taps.last_id, thread_sensitive=False)(target)}
        renewed = 0.0
        while True:
            if time.monotonic() - renewed > TAP_RENEW:
                await sync_to_async(taps.watch, thread_sensitive=False)(self.flow_id, target, sample=sample, rate=rate)
                renewed = time.monotonic()
            events = [event for _, _, event in await read([target], cursors, None)]
            if events:
                await self.send_json({"type": "tap", "target": target, "kind": kind, "events": events})
            else:
                await asyncio.sleep(TAP_POLL)

    async def start(self, user: Any) -> None:
        flow_id = str(self.scope["url_route"]["kwargs"]["flow_id"])
        if not live.valid_uuid(flow_id) or not await database_sync_to_async(_may_view_flow)(user, flow_id):
            await self.refuse(CLOSE_NOT_FOUND, f"no flow {flow_id}: it does not exist or you may not see it")
            return
        self.flow_id = flow_id
        self.taps: dict[str, asyncio.Future[None]] = {}
        self.group = publish.flow_group(flow_id)
        # Joined before the snapshot is read, so no tick falls between the two; a tick the snapshot already holds
        # (written to Redis before the read, sent after it) is named in the snapshot's seconds[].workers.
        await self.channel_layer.group_add(self.group, self.channel_name)
        sampler.watch_flow(flow_id)
        await self.send_json(await self.snapshot())
        self.username = str(user.get_username())
        await sync_to_async(presence.join, thread_sensitive=False)(flow_id, self.channel_name, self.username)
        await self._announce()

    def stop_watching(self) -> None:
        sampler.unwatch_flow(self.flow_id)
        for task in self.taps.values():
            task.cancel()
        self.taps.clear()

    async def disconnect(self, code: int) -> None:
        flow_id, group = self.flow_id, self.group
        await super().disconnect(code)
        if flow_id and group:
            await sync_to_async(presence.leave, thread_sensitive=False)(flow_id, self.channel_name)
            entries = await sync_to_async(presence.present, thread_sensitive=False)(flow_id)
            await self.channel_layer.group_send(group, {"type": "flow.presence", "entries": entries})

    async def pinged(self) -> None:
        if self.flow_id:
            await sync_to_async(presence.join, thread_sensitive=False)(self.flow_id, self.channel_name, self.username)

    async def _announce(self) -> None:
        entries = await sync_to_async(presence.present, thread_sensitive=False)(self.flow_id)
        await self.channel_layer.group_send(self.group, {"type": "flow.presence", "entries": entries})

    async def flow_presence(self, event: dict[str, Any]) -> None:
        others = presence.others(event["entries"], self.channel_name)
        await self.send_json({"type": "presence", "flow_id": self.flow_id, "others": others, "you": self.username})

    async def flow_saved(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def snapshot(self) -> dict[str, Any]:
        processors = await database_sync_to_async(live.processors_of)(self.flow_id)
        state = await sync_to_async(_flow_state, thread_sensitive=False)(self.flow_id)
        return {**state, "processors": processors}

    async def metrics_tick(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def metrics_depths(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def metrics_status(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])


def _in_flow(kind: str, target: str, flow_id: str) -> bool:
    model = Plug if kind == "plug" else Socket
    return model.objects.filter(pk=target, flow_id=flow_id).exists()


def _may_view_flow(user: Any, flow_id: str) -> bool:
    flow = Flow.objects.filter(pk=flow_id).first()
    return flow is not None and has_flow_perm(user, "view_flow", flow)


def _flow_state(flow_id: str) -> dict[str, Any]:
    # The last *finished* second: the current one is still being counted by the workers.
    last = int(time.time()) - 1
    snapshot: FlowSnapshot = {
        "type": "snapshot",
        "flow_id": flow_id,
        "t": last,
        "processors": [],
        "seconds": live.flow_seconds(flow_id, last),
        "depths": live.last_depths(flow_id),
        "workers": live.workers(flow_id=flow_id),
    }
    return dict(snapshot)


class ClusterConsumer(LiveConsumer):
    """/ws/metrics/: the cluster, filtered to what the user may see."""

    async def start(self, user: Any) -> None:
        self.user = user
        await self._refresh_visibility()
        self.group = publish.CLUSTER_GROUP
        await self.channel_layer.group_add(self.group, self.channel_name)
        sampler.watch_cluster()
        await self.send_json(await self.snapshot())

    def stop_watching(self) -> None:
        sampler.unwatch_cluster()

    async def _refresh_visibility(self) -> None:
        self.flow_ids, self.processor_ids, self.see_nodes = await database_sync_to_async(_visibility)(self.user)
        self.visibility_at = time.monotonic()

    def visible(self, frame: ClusterEvent) -> dict[str, Any]:
        return {
            **frame,
            "nodes": frame["nodes"] if self.see_nodes else [],
            "workers": [w for w in frame["workers"] if w["processor_id"] in self.processor_ids],
            "flows": [f for f in frame["flows"] if f["id"] in self.flow_ids],
            "top_errors": [r for r in frame["top_errors"] if r["processor_id"] in self.processor_ids][:TOP],
            "deepest": [r for r in frame["deepest"] if r["processor_id"] in self.processor_ids][:TOP],
        }

    async def snapshot(self) -> dict[str, Any]:
        entries = await database_sync_to_async(live.directory.entries)()
        nodes = await database_sync_to_async(live.nodes)()
        state = await sync_to_async(_cluster_state, thread_sensitive=False)(entries, nodes)
        frame = self.visible(state["frame"])
        seconds = [
            {"t": t, "flows": {f["id"]: f for f in flows if f["id"] in self.flow_ids}} for t, flows in state["seconds"]
        ]
        return {**frame, "type": "snapshot", "seconds": seconds}

    async def metrics_cluster(self, event: dict[str, Any]) -> None:
        if time.monotonic() - self.visibility_at > VISIBILITY_TTL:
            await self._refresh_visibility()
        await self.send_json(self.visible(event["frame"]))


def _visibility(user: Any) -> tuple[set[str], set[str], bool]:
    flow_ids = {str(pk) for pk in flows_for(user).values_list("pk", flat=True)}
    processor_ids = {str(pk) for pk in processors_for(user).values_list("pk", flat=True)}
    see_nodes = bool(user.is_superuser or user.has_perm("cluster.view_node"))
    return flow_ids, processor_ids, see_nodes


def _cluster_state(entries: list[live.SocketEntry], nodes: list[Any]) -> dict[str, Any]:
    last = int(time.time()) - 1
    names = {entry.flow_id: entry.flow for entry in entries}
    seconds = []
    for t in range(last - live.WINDOW + 1, last + 1):
        counts = live.read_second(live.active_flows(t), t)
        if counts:
            seconds.append((t, live.flow_totals(counts, names)))
    frame = sampler.cluster_frame(last, live.read_second(live.active_flows(last), last), entries, nodes)
    return {"frame": frame, "seconds": seconds}


class NotFoundConsumer(LiveConsumer):
    """Any other websocket path: a clean 4404 instead of the router's exception."""

    async def connect(self) -> None:
        await self.accept()
        await self.refuse(
            CLOSE_NOT_FOUND, f"no websocket at {self.scope.get('path', '')}: use /ws/flows/<id>/ or /ws/metrics/"
        )
