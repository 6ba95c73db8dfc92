"""Memoized pure sockets (Girder's cached requests): a socket marked `pure` keeps its results in Redis by (socket,
pinned commit, payload, args, argument) for `memo_ttl` seconds (ELASTICCODE_MEMO_TTL by default).

Every message to a pure socket, however it came (a plug, the API, the SDK, `elasticcode.call`), first `join`s its
entry in one script: a stored result is a hit (the message completes with it, its lineage says `cached`); else the
first to come takes the entry's lock and runs the function; identical messages that come while it runs wait for
it (their slots serve other messages meanwhile, calls.py) and share its result. A failure is not kept: the waiters
are woken, and the next of them runs the function itself. The lock expires after the socket's time limit, so a
worker that died with it held delays the others, never stops them.

A call made from inside a function also looks the entry up before sending anything (`lookup`): a hit then costs one
Redis read, not a hop.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from django.conf import settings

from flows.runtime import broker, keys, previews
from flows.runtime.broker import client, patient
from flows.runtime.envelope import Envelope
from flows.runtime.topology import SocketInfo

_JOIN = """
-- KEYS: the value, its lock, its waiters; ARGV: message id, lock seconds, the message's notify list
local value = redis.call('GET', KEYS[1])
if value then return {'hit', value} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) then return {'lead', ''} end
local leader = redis.call('GET', KEYS[2])
if leader == ARGV[1] then return {'lead', ''} end
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return {'wait', leader or ''}
"""
_DONE = """
-- KEYS: the value, its lock, its waiters; ARGV: the value ('' for a failure: not kept), seconds kept
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
redis.call('DEL', KEYS[2])
for _, waiter in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('RPUSH', waiter, '1')
  redis.call('EXPIRE', waiter, 3600)
end
redis.call('DEL', KEYS[3])
return 1
"""


def key(info: SocketInfo, payload: Any, args: list[Any], argument: str = "") -> str:
    """The entry of this call: sockets, commits and arguments that differ never share one."""
    canonical = json.dumps([payload, args, argument], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return keys.memo(info.id, info.commit or "-", digest)


def ttl(info: SocketInfo) -> int:
    return info.memo_ttl or settings.ELASTICCODE_MEMO_TTL


def _keys(entry: str) -> list[str]:
    return [entry, f"{entry}:lock", f"{entry}:waiters"]


def result_of(stored: dict[str, Any]) -> Any:
    """What a call returns for a stored outcome: its one value, or the list of a generator's values."""
    values = stored.get("values") or []
    return values[0] if len(values) == 1 else values


def lookup(info: SocketInfo, payload: Any, args: list[Any]) -> Any | None:
    """A call's result from the memo, or None (a stored None result is not told apart: it simply runs)."""
    raw = patient(lambda: client().get(key(info, payload, args)))
    return result_of(json.loads(raw)) if raw else None


def join(info: SocketInfo, envelope: Envelope) -> tuple[str, dict[str, Any] | None, str]:
    """("hit", stored outcome, ""), ("lead", None, ""): run it, then `done`; or ("wait", None, the leader's message
    id): wait on the message's notify list (keys.call_notify of its id) and join again."""
    entry = key(info, envelope["payload"], envelope.get("args") or [], envelope.get("argument") or "")
    raw = patient(
        lambda: broker.script(_JOIN)(
            keys=_keys(entry), args=[envelope["id"], max(int(info.time_limit), 1), keys.call_notify(envelope["id"])]
        )
    )
    state, other = (item.decode() if isinstance(item, bytes) else str(item) for item in raw)
    return state, (json.loads(other) if state == "hit" else None), (other if state == "wait" else "")


def done(info: SocketInfo, envelope: Envelope, values: list[Any] | None, named: dict[str, Any] | None) -> None:
    """The leader finished: keep its outcome (`values` None for a failure, which is not kept) and wake the waiters."""
    entry = key(info, envelope["payload"], envelope.get("args") or [], envelope.get("argument") or "")
    stored = json.dumps({"values": values, "named": named or {}}) if values is not None else ""
    patient(lambda: broker.script(_DONE)(keys=_keys(entry), args=[stored, ttl(info)]))


def hit_record(
    context: Any, caller: Envelope, info: SocketInfo, call_id: str, payload: Any, args: list[Any], result: Any
) -> dict[str, Any]:
    """The lineage record of a call answered from the memo without a message: a `cached` call under its caller."""
    now = time.time()
    limit = settings.ELASTICCODE_LINEAGE_PREVIEW_BYTES
    record: dict[str, Any] = {
        "id": call_id,
        "trace_id": caller["trace_id"],
        "parent_id": caller["id"],
        "flow_id": info.flow_id,
        "socket_id": info.id,
        "socket_name": info.name,
        "status": "cached",
        "received_at": now,
        "started_at": now,
        "finished_at": now,
        "duration_ms": 0.0,
        "worker": context.name,
        "attempt": 1,
    }
    if limit > 0:
        record["input"] = previews.of(payload, limit)
        if args:
            record["args"] = previews.of(args, limit)
        record["output"] = previews.of(result, limit)
    return record
