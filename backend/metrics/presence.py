"""Who has a flow open in the designer, for the others who have it open (issue 16's presence).

Each open /ws/flows/<id>/ connection is an entry of the Redis hash `ec:presence:<flow id>`: its channel name → its
user's name and when it last spoke (connect, then each of the browser's pings, every 20 s). A connection that
closes removes its entry; one whose process died without closing (a killed Daphne) stops being counted once silent
for STALE_SECONDS, and is removed by the next read. Every change is sent to the flow's group as a `presence` frame
that each consumer turns into "the others" (itself left out: a second tab of the same user counts as another).
"""

from __future__ import annotations

import json
import time
from typing import Any

from flows.runtime import broker, keys

STALE_SECONDS = 90
TTL_SECONDS = 24 * 3600


def _key(flow_id: str) -> str:
    return f"{keys.PREFIX}:presence:{flow_id}"


def join(flow_id: str, channel: str, user: str) -> None:
    """`channel` (one connection) has the flow open as `user`; also its keep-alive."""
    pipe = broker.client().pipeline(transaction=False)
    pipe.hset(_key(flow_id), channel, json.dumps({"user": user, "at": time.time()}))
    pipe.expire(_key(flow_id), TTL_SECONDS)
    pipe.execute()


def leave(flow_id: str, channel: str) -> None:
    broker.client().hdel(_key(flow_id), channel)


def present(flow_id: str) -> list[dict[str, Any]]:
    """The live connections to the flow: [{"channel", "user", "at"}] by user name; stale ones are dropped."""
    redis = broker.client()
    now = time.time()
    live, stale = [], []
    for channel, raw in redis.hgetall(_key(flow_id)).items():
        try:
            entry = json.loads(raw)
            at = float(entry["at"])
            user = str(entry["user"])
        except (ValueError, KeyError, TypeError):
            stale.append(channel)
            continue
        if now - at > STALE_SECONDS:
            stale.append(channel)
        else:
            name = channel.decode() if isinstance(channel, bytes) else str(channel)
            live.append({"channel": name, "user": user, "at": at})
    if stale:
        redis.hdel(_key(flow_id), *stale)
    return sorted(live, key=lambda e: (e["user"], e["channel"]))


def others(entries: list[dict[str, Any]], channel: str) -> list[str]:
    """The names of the other connections' users, one per connection, in the order they came."""
    return [e["user"] for e in entries if e["channel"] != channel]
