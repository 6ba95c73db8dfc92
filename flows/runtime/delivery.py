"""Taking messages off socket queues reliably, and giving back what a dead worker held.

A message moves atomically (LMOVE) from its socket queue to the taking consumer's in-flight list for that queue,
and leaves that list only in the same Lua step that completes it (traces.py), retries it, or puts it back. So at
every instant a message is in exactly one list: the queue, an in-flight list, a retry set or a dead-letter list.
A consumer proves it is alive with a key refreshed every few seconds (TTL keys.ALIVE_TTL); when it is gone (killed,
its node lost), `restore_dead` moves its in-flight lists back to the head of their queues, flagged as redelivered
so the next taker first checks whether the message already completed.

Queue entries stay in Celery's message format (broker.encode), so any Celery client can still send to a socket.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from flows.runtime import broker, keys
from flows.runtime.envelope import Envelope

log = logging.getLogger(__name__)

_FETCH = """
-- KEYS: queue, in-flight list; ARGV: how many at most. Oldest first (producers push left, consumers take right).
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local entry = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not entry then break end
  out[i] = entry
end
return out
"""

_REQUEUE = """
-- KEYS: in-flight list, queue; ARGV: entry, '1' to put it where it is taken next, '0' to put it at the back
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
if ARGV[2] == '1' then redis.call('RPUSH', KEYS[2], ARGV[1]) else redis.call('LPUSH', KEYS[2], ARGV[1]) end
return 1
"""

_QUARANTINE = """
-- KEYS: in-flight list, quarantine list; ARGV: entry
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
"""

_RESTORE = """
-- KEYS: alive key, consumers hash, then (in-flight list, queue) pairs; ARGV: consumer id, '1' to restore even if alive
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local moved = 0
for i = 3, #KEYS, 2 do
  while true do
    -- Newest first, each pushed onto the taking end: the oldest ends up taken next, as it was.
    local entry = redis.call('LPOP', KEYS[i])
    if not entry then break end
    local ok, message = pcall(cjson.decode, entry)
    if ok and type(message) == 'table' and type(message.properties) == 'table' then
      if type(message.properties.delivery_info) ~= 'table' then message.properties.delivery_info = {} end
      message.properties.delivery_info.redelivered = true
      entry = cjson.encode(message)
    end
    redis.call('RPUSH', KEYS[i + 1], entry)
    moved = moved + 1
  end
end
redis.call('HDEL', KEYS[2], ARGV[1])
if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) end
return moved
"""


@dataclass(frozen=True)
class Delivery:
    """One message taken by a consumer: the raw entry is what acknowledges it (LREM from `inflight`)."""

    queue_id: str
    inflight: str
    raw: bytes
    envelope: Envelope
    redelivered: bool


ENVELOPE_KEYS = ("id", "trace_id", "flow_id", "socket_id", "payload")


def parse(queue_id: str, inflight: str, raw: bytes) -> Delivery:
    """The Delivery of a taken entry; ValueError when it is not an ElasticCode message in Celery's format."""
    message = json.loads(raw)
    envelope = broker.decode_message(message)["envelope"]
    if not isinstance(envelope, dict) or any(key not in envelope for key in ENVELOPE_KEYS):
        raise ValueError(f"no envelope with {', '.join(ENVELOPE_KEYS)}")
    envelope.setdefault("tracked", False)
    info = (message.get("properties") or {}).get("delivery_info") or {}
    return Delivery(
        queue_id=queue_id,
        inflight=inflight,
        raw=raw,
        envelope=envelope,  # type: ignore[arg-type]
        redelivered=bool(info.get("redelivered")),
    )


def fetch(queue_id: str, inflight: str, count: int) -> list[bytes]:
    """Take up to `count` messages without waiting."""
    return list(broker.script(_FETCH)(keys=[keys.queue(queue_id), inflight], args=[count]))


def wait(queue_id: str, inflight: str, timeout: int) -> bytes | None:
    """Take one message, waiting up to `timeout` seconds for it (the idle path: no polling)."""
    raw = broker.client().blmove(keys.queue(queue_id), inflight, timeout, "RIGHT", "LEFT")
    return raw.encode() if isinstance(raw, str) else raw


def requeue(delivery: Delivery, *, front: bool = True) -> bool:
    """Give a message back: to be taken next (`front`), or behind everything waiting."""
    return bool(
        broker.patient(
            lambda: broker.script(_REQUEUE)(
                keys=[delivery.inflight, keys.queue(delivery.queue_id)], args=[delivery.raw, "1" if front else "0"]
            )
        )
    )


def quarantine(queue_id: str, inflight: str, raw: bytes) -> None:
    broker.script(_QUARANTINE)(keys=[inflight, keys.quarantine(queue_id)], args=[raw])


def beat(consumer_id: str, queue_ids: Sequence[str]) -> None:
    """Register (again, after a restore took the registration away) and prove the consumer is alive."""
    pipe = broker.client().pipeline(transaction=True)
    pipe.set(keys.consumer_alive(consumer_id), "1", ex=keys.ALIVE_TTL)
    pipe.hset(keys.CONSUMERS, consumer_id, json.dumps(list(queue_ids)))
    pipe.execute()


def restore(consumer_id: str, queue_ids: Sequence[str], *, force: bool = False) -> int:
    """Move a consumer's in-flight messages back to their queues: always when `force` (the consumer itself, on
    its way out), otherwise only if its alive key has expired. -1 when it is alive."""
    restore_keys = [keys.consumer_alive(consumer_id), keys.CONSUMERS]
    for queue_id in queue_ids:
        restore_keys += [keys.inflight(consumer_id, queue_id), keys.queue(queue_id)]
    return int(broker.script(_RESTORE)(keys=restore_keys, args=[consumer_id, "1" if force else "0"]))


def restore_dead() -> int:
    """Restore the in-flight messages of every consumer whose alive key has expired; the number moved back."""
    client = broker.client()
    registered = {
        cid.decode() if isinstance(cid, bytes) else cid: json.loads(queues)
        for cid, queues in client.hgetall(keys.CONSUMERS).items()
    }
    if not registered:
        return 0
    pipe = client.pipeline(transaction=False)
    for consumer_id in registered:
        pipe.exists(keys.consumer_alive(consumer_id))
    moved = 0
    for (consumer_id, queue_ids), alive in zip(registered.items(), pipe.execute(), strict=True):
        if alive:
            continue
        count = restore(consumer_id, queue_ids)
        if count > 0:
            log.warning("consumer %s is gone: %d of its messages went back to their queues", consumer_id, count)
            moved += count
    return moved
