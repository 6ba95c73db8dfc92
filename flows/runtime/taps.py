"""Taps (ElasticFlow's interceptors): watch the messages passing along a plug, or arriving at a socket, as they happen.

A tap costs nothing until somebody watches. A watcher (the designer's tap panel over /ws/flows/<id>/, `ec tap`, or
`GET /api/plugs/{id}/tap`) registers the target in the flow's hash of taps for TAP_LEASE seconds and renews it while
it watches. Workers read that hash at most once a second per flow (`TapCache`); for a tapped target they add an
event to the target's Redis stream (XADD, capped at STREAM_LENGTH, kept STREAM_TTL seconds):

    {"kind": "plug" | "socket", "target": id, "name": plug or socket name, "from": socket, "to": socket,
     "message_id", "trace_id", "attempt", "at": epoch seconds, "payload": JSON text cut at
     ELASTICCODE_TAP_PREVIEW_BYTES (ending with "…" when cut)}

A watcher asks for a `sample` (the share of messages, 0 < s ≤ 1) and a `rate` (events per second, at most
MAX_RATE); with several watchers the largest of each wins. Each worker samples, and keeps a token bucket of `rate`
so that a busy worker does not send Redis events it would drop; the rate itself holds for the whole cluster: the
XADD goes through a script that counts the target's events in the current window (one second, longer for a rate
under one a second; a key of the target and the window, shared by every worker and node) and adds the event only
while that count is within the window's share of `rate`. Readers take
events from the stream after their cursor (XREAD), so a slow reader misses old events, never blocks a worker.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from flows.runtime import keys
from flows.runtime.broker import client, patient, script

log = logging.getLogger(__name__)
TAP_LEASE = 30.0  # seconds a watch lasts unless renewed
STREAM_LENGTH = 200  # events kept per target (approximately: XADD MAXLEN ~)
STREAM_TTL = 600
MAX_RATE = 50.0
DEFAULT_RATE = 10.0
CHECK_EVERY = 1.0
# KEYS: the target's stream, its counter for this window. ARGV: events allowed in the window, the event,
# STREAM_LENGTH, STREAM_TTL, the window's seconds. A fixed window, not a bucket: every worker's clock names the same
# window to within NTP's error, and a window needs no clock inside Redis. At a window's edge up to twice the rate
# may pass within one window's length.
_ADD_WITHIN_RATE = """
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]) + 1) end
if n > tonumber(ARGV[1]) then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


@dataclass(frozen=True)
class Tap:
    sample: float = 1.0
    rate: float = DEFAULT_RATE


def watch(flow_id: str, target_id: str, *, sample: float = 1.0, rate: float = DEFAULT_RATE) -> None:
    """Register (or renew) a watch of `target_id` (a plug's or a socket's id) for TAP_LEASE seconds."""
    sample = min(max(float(sample), 0.001), 1.0)
    rate = min(max(float(rate), 0.1), MAX_RATE)
    until = time.time() + TAP_LEASE
    key = keys.taps(flow_id)

    def renew() -> None:
        pipe = client().pipeline(transaction=False)
        pipe.hset(key, target_id, json.dumps({"until": until, "sample": sample, "rate": rate}))
        pipe.expire(key, int(TAP_LEASE) * 2)
        pipe.execute()

    patient(renew)


def read(targets: list[str], cursors: dict[str, str], block_ms: int | None) -> list[tuple[str, str, dict[str, Any]]]:
    """Events of `targets` after their cursors ("$": only new ones), waiting up to `block_ms` (None: not at all);
    (target, event id, event) in order. Moves `cursors` on."""
    streams = {keys.tap_stream(t): cursors.get(t) or "$" for t in targets}
    block = None if block_ms is None else max(block_ms, 1)  # XREAD's BLOCK 0 would wait for ever
    raw: Any = patient(lambda: client().xread(streams, count=100, block=block))  # type: ignore[arg-type]
    out: list[tuple[str, str, dict[str, Any]]] = []
    for stream, entries in raw or []:
        name = stream.decode() if isinstance(stream, bytes) else str(stream)
        target = name.rsplit(":", 1)[-1]
        for entry_id, fields in entries:
            event_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            cursors[target] = event_id
            body = fields.get(b"e") or fields.get("e") or b"{}"
            try:
                event = json.loads(body)
            except ValueError:
                continue
            out.append((target, event_id, event))
    return out


def last_id(target_id: str) -> str:
    """The id of the newest event of a target ("0" when none): a cursor that starts from now on."""
    raw: Any = patient(lambda: client().xrevrange(keys.tap_stream(target_id), count=1))
    if not raw:
        return "0"
    entry_id = raw[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


class TapCache:
    """A worker's view of the active taps, per flow, read at most once a second; and its per-target rate limit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flows: dict[str, tuple[dict[str, Tap], float]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # target → (tokens, at)

    def active(self, flow_id: str) -> dict[str, Tap]:
        now = time.monotonic()
        with self._lock:
            cached = self._flows.get(flow_id)
        if cached is not None and now - cached[1] < CHECK_EVERY:
            return cached[0]
        try:
            raw = client().hgetall(keys.taps(flow_id))
        except Exception as exc:  # taps are for watching: a Redis hiccup must not fail a message
            log.debug("taps of flow %s unreadable: %s", flow_id, exc)
            raw = {}
        taps: dict[str, Tap] = {}
        wall = time.time()
        for target, value in raw.items():
            try:
                doc = json.loads(value)
                if float(doc["until"]) > wall:
                    taps[target.decode() if isinstance(target, bytes) else str(target)] = Tap(
                        float(doc.get("sample", 1.0)), float(doc.get("rate", DEFAULT_RATE))
                    )
            except (ValueError, KeyError, TypeError):
                continue
        with self._lock:
            self._flows[flow_id] = (taps, now)
        return taps

    def admit(self, target: str, tap: Tap) -> bool:
        """Sampled, then a token bucket of `rate` events a second (a burst of one second's worth, and at least one
        event: a bucket of 0.5 never reached the token an event takes, so a tap under one a second showed nothing)."""
        if tap.sample < 1.0 and random.random() >= tap.sample:  # a sample, not cryptography
            return False
        now = time.monotonic()
        burst = max(tap.rate, 1.0)
        with self._lock:
            tokens, at = self._buckets.get(target, (burst, now))
            tokens = min(burst, tokens + (now - at) * tap.rate)
            if tokens < 1.0:
                self._buckets[target] = (tokens, now)
                return False
            self._buckets[target] = (tokens - 1.0, now)
        return True

    def emit(self, events: list[tuple[str, dict[str, Any]]], taps: dict[str, Tap]) -> None:
        """Add admitted events (target id, event) to their streams, each only while its target's cluster-wide count
        in the current window (`window`) is within the tap's rate (`taps`: the active taps, as `active` gave them);
        one round trip; never raises."""
        if not events:
            return
        now = time.time()
        try:
            add = script(_ADD_WITHIN_RATE)
            pipe = client().pipeline(transaction=False)
            for target, event in events:
                allowed, seconds = window(taps[target].rate if target in taps else DEFAULT_RATE)
                add(
                    keys=[keys.tap_stream(target), keys.tap_window(target, seconds, int(now // seconds))],
                    args=[allowed, json.dumps(event, ensure_ascii=False), STREAM_LENGTH, STREAM_TTL, seconds],
                    client=pipe,
                )
            pipe.execute()
        except Exception as exc:
            log.warning("tap events lost: %s", exc)


def window(rate: float) -> tuple[int, int]:
    """(events allowed, window seconds) for `rate` events a second: a rate under one (0.1: one event in 10 s)
    widens the window rather than rounding the rate up to one a second."""
    if rate >= 1.0:
        return int(rate), 1
    seconds = math.ceil(1.0 / max(rate, 0.001))
    return max(1, round(rate * seconds)), seconds
