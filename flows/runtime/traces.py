"""Completion of messages and of whole traces, in Redis.

A message is complete once its children are published: one Lua script then marks it done (first completion only),
stores a sink's result, queues its lineage record and, for tracked traces, closes it in the trace's set of open
messages; the trace is over when that set is empty, and whoever waits is woken through a list (BLPOP, no polling).

Child ids are opened (SADD) before the children are published, so a child that finishes first can never make the
trace look finished early; a redelivered parent re-opens the same ids and republishes them, and the duplicate child
that arrives is closed again by the "already done" path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flows.runtime import broker, keys, redis_transport
from flows.runtime.broker import client, patient
from flows.runtime.envelope import Envelope

_COMPLETE = """
-- KEYS: done, open, results, error, notify, lineage, dead letters, composition answer, its latch,
--       then one queue key per child
-- ARGV: message id, ttl, result ('' when not a sink), error ('' when none), lineage record ('' when off),
--       tracked ('1'/'0'), dead letter ('' when none), composition answer ('' when none), the answer's ttl,
--       then per child: its queue entry and its id
local children = #KEYS - 9
if ARGV[5] ~= '' then redis.call('RPUSH', KEYS[6], ARGV[5]) end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  -- Already complete (a redelivery): its children went out with the first completion. An answer is given again if
  -- it is gone (a caller that read and dropped it, then crashed and called again with the same call id).
  if ARGV[6] == '1' then redis.call('SREM', KEYS[2], ARGV[1]) end
  if ARGV[8] ~= '' and redis.call('SET', KEYS[8], ARGV[8], 'NX', 'EX', ARGV[9]) then
    redis.call('RPUSH', KEYS[9], '1')
    redis.call('EXPIRE', KEYS[9], ARGV[9])
  end
  return 0
end
for i = 1, children do
  if ARGV[6] == '1' then redis.call('SADD', KEYS[2], ARGV[9 + 2 * i]) end
  redis.call('LPUSH', KEYS[9 + i], ARGV[8 + 2 * i])
  -- A wake token for the child queue's waiting workers (flows/runtime/redis_transport.py).
  redis.call('LPUSH', '__WAKE__' .. KEYS[9 + i], '1')
  redis.call('LTRIM', '__WAKE__' .. KEYS[9 + i], 0, __LAST__)
end
if ARGV[6] == '1' and children > 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
if ARGV[7] ~= '' then redis.call('RPUSH', KEYS[7], ARGV[7]) end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[4], ARGV[4], 'EX', ARGV[2])
  redis.call('RPUSH', KEYS[5], 'error')
  redis.call('EXPIRE', KEYS[5], ARGV[2])
end
if ARGV[8] ~= '' and redis.call('SET', KEYS[8], ARGV[8], 'NX', 'EX', ARGV[9]) then
  redis.call('RPUSH', KEYS[9], '1')
  redis.call('EXPIRE', KEYS[9], ARGV[9])
end
if ARGV[6] == '1' then
  redis.call('SREM', KEYS[2], ARGV[1])
  if redis.call('SCARD', KEYS[2]) == 0 then
    redis.call('RPUSH', KEYS[5], 'done')
    redis.call('EXPIRE', KEYS[5], ARGV[2])
  end
end
return 1
""".replace("__WAKE__", redis_transport.WAKE_PREFIX).replace("__LAST__", str(redis_transport.WAKE_TOKENS - 1))


def is_done(message_id: str) -> bool:
    return bool(patient(lambda: client().exists(keys.done(message_id))))


def _open(pipe: Any, trace_id: str, message_ids: Sequence[str]) -> None:
    pipe.sadd(keys.trace_open(trace_id), *message_ids)
    pipe.expire(keys.trace_open(trace_id), keys.RESULT_TTL)


def open_messages(trace_id: str, message_ids: Sequence[str]) -> None:
    def add() -> None:
        pipe = client().pipeline(transaction=True)
        _open(pipe, trace_id, message_ids)
        pipe.execute()

    if message_ids:
        patient(add)


def publish_tracked(queue_id: str, envelope: Envelope) -> None:
    """Open a trace's first message and publish it in one transaction (one round trip, not two): it is open before
    any worker can take it, so the trace can never look over before it ran."""

    if not broker.on_redis():  # another broker: open it first, then publish (never the other way round)
        open_messages(envelope["trace_id"], [envelope["id"]])
        broker.publish([(queue_id, envelope)])
        return

    def send() -> None:
        pipe = client().pipeline(transaction=True)
        _open(pipe, envelope["trace_id"], [envelope["id"]])
        broker.queue_messages(pipe, [(queue_id, envelope)])
        pipe.execute()

    patient(send)


@dataclass(frozen=True)
class Completion:
    """What `complete` did: `first` is False for a redelivered duplicate (nothing published); `bytes_out` is the
    size of the published children (for the live metrics)."""

    first: bool
    bytes_out: int = 0

    def __bool__(self) -> bool:
        return self.first


def complete(
    *,
    message_id: str,
    trace_id: str,
    tracked: bool,
    children: Sequence[tuple[str, Envelope]] = (),
    result: list[Any] | None = None,
    error: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
    dead_letter: tuple[str, dict[str, Any]] | None = None,
    answer: dict[str, Any] | None = None,
    answer_to: tuple[str, str, int] | None = None,
) -> Completion:
    """Complete a message in one atomic step; truthy the first time, falsy for a redelivered duplicate.

    The first completion queues `children` (queue id, envelope) and opens them in the trace, stores a sink's
    `result`, records a trace's `error`, and puts `dead_letter` (socket id, entry) on that socket's list. A crash
    before this leaves nothing behind (the message is still unacknowledged, so the broker redelivers it and it runs
    again); after it, all of it is there, and the worker acknowledges the message (Celery's late ack). `answer` is an SDK
    composition's answer (flows/runtime/workflows.py): the first one is kept and wakes whoever waits; `answer_to`
    (answer key, notify list, seconds) is where it goes, the trace's composition answer when not given.
    """
    published = 0
    if children and not broker.on_redis():
        # The queues are on another broker, so the children cannot join the script: they are opened in the trace,
        # then published and confirmed, and only then is the message marked complete. A crash in between runs the
        # message again and publishes the same child ids again, which their socket completes once.
        if tracked:
            open_messages(trace_id, [envelope["id"] for _, envelope in children])
        published = broker.publish(children)
        children = ()
    encoded = [broker.encode(queue_id, envelope) for queue_id, envelope in children]
    trace_keys = [
        keys.done(message_id),
        keys.trace_open(trace_id),
        keys.trace_results(trace_id),
        keys.trace_error(trace_id),
        keys.trace_notify(trace_id),
        keys.LINEAGE,
        keys.dead_letters(dead_letter[0] if dead_letter else "none"),
        (answer_to[0] if answer_to else keys.workflow_answer(trace_id)) if answer is not None else keys.NOTHING,
        (answer_to[1] if answer_to else keys.workflow_notify(trace_id)) if answer is not None else keys.NOTHING,
        *(name for name, _ in encoded),
    ]
    argv: list[Any] = [
        message_id,
        keys.DONE_TTL,
        json.dumps(result) if result is not None else "",
        json.dumps(error) if error is not None else "",
        json.dumps(lineage) if lineage is not None else "",
        "1" if tracked else "0",
        json.dumps(dead_letter[1]) if dead_letter else "",
        json.dumps(answer) if answer is not None else "",
        answer_to[2] if answer_to else keys.DONE_TTL,
    ]
    for (_, entry), (_, envelope) in zip(encoded, children, strict=True):
        argv += [entry, envelope["id"]]
    first = bool(patient(lambda: broker.script(_COMPLETE)(keys=trace_keys, args=argv)))
    return Completion(first, (published + sum(len(entry) for _, entry in encoded)) if first else 0)


def record_lineage(lineage: dict[str, Any]) -> None:
    """Queue one call's lineage record for the housekeeper (keys.LINEAGE)."""
    patient(lambda: client().rpush(keys.LINEAGE, json.dumps(lineage)))


def wait(trace_id: str, timeout: float) -> dict[str, Any] | None:
    """Block until the trace is over or failed; None when `timeout` passes first."""
    deadline = time.monotonic() + timeout
    redis = client()
    while True:
        outcome = _outcome(redis, trace_id)
        if outcome is not None:
            return outcome
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        # BLPOP's timeout is whole seconds in old servers; a float works on Redis ≥ 6.
        redis.blpop([keys.trace_notify(trace_id)], timeout=min(left, 5.0))


def _outcome(redis: Any, trace_id: str) -> dict[str, Any] | None:
    """The trace's answer if it failed or is over, else None, in two round trips: its error, and only when there is
    none, one transaction that reads whether it is over, its error again and its results. The error is read again
    because a failing completion may have stored it (and ended the trace) just after the first read, and a failed
    trace must not answer as one that finished with no results; in one transaction the three reads see the trace
    as one moment, before or after any completion (a completion is one script too)."""
    error = redis.get(keys.trace_error(trace_id))
    if error:
        return {"error": json.loads(error)}
    pipe = redis.pipeline(transaction=True)
    pipe.scard(keys.trace_open(trace_id))
    pipe.exists(keys.done(trace_id))
    pipe.get(keys.trace_error(trace_id))
    pipe.hgetall(keys.trace_results(trace_id))
    still_open, done, error, raw = pipe.execute()
    if still_open or not done:
        return None
    if error:
        return {"error": json.loads(error)}
    return {"results": _ordered(raw)}


def results(trace_id: str) -> list[Any]:
    """The sink results of a trace, each message's values in order of completion id (stable)."""
    return _ordered(client().hgetall(keys.trace_results(trace_id)))


def _ordered(raw: dict[Any, Any]) -> list[Any]:
    out: list[Any] = []
    for _message_id, values in sorted(raw.items()):
        out.extend(json.loads(values))
    return out
