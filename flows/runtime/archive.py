"""Messages of deleted sockets: counted before a delete, moved to their owner's dead-letter archive by a forced one.

A socket's messages live in Redis: its queue (all of it for a queue of its own; the entries addressed to it in a
shared one), the retry set, its dead letters, its queue's quarantine. Deleting the socket (or its processor, or its
flow) without moving them would strand them: nothing runs them, nobody sees them, a caller waiting on one times
out, and the keys stay for ever. So a delete with messages waiting is refused (flows/services/deletes.py) unless
forced, and a forced one calls `archive`, which moves every one of them into the flow owner's archive list (each
entry leaves its list in the same Lua step that writes its archive record), removes every key the socket had, and
fails the traces of messages someone waits on, so they hear of it at once.

Messages can still arrive for a while after the delete: from a worker that routed with a topology a second old, or
that gives back what it held when it restarts. A tombstone per deleted socket (the hash keys.DELETED, kept
TOMBSTONE_SECONDS) lets `sweep` (a housekeeping chore) and the worker (flows/runtime/handler.py) archive those too.

Archive records are JSON: {"id", "trace_id", "state": queued | retrying | dead | quarantined, "reason",
"archived_at", "flow": {"id", "name"}, "socket": {"id", "name"}, "envelope" | "raw", "error"?}.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from flows.runtime import broker, keys, kombu_broker, redis_transport, traces, workflows

TOMBSTONE_SECONDS = 3600
BATCH = 500

_MOVE_FROM_LIST = """
-- KEYS: source list, archive list; ARGV: pairs of (entry, archive record)
local moved = 0
for i = 1, #ARGV, 2 do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[i + 1])
    moved = moved + 1
  end
end
return moved
"""

_MOVE_FROM_SET = """
-- KEYS: sorted set, archive list; ARGV: pairs of (member, archive record)
local moved = 0
for i = 1, #ARGV, 2 do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[i + 1])
    moved = moved + 1
  end
end
return moved
"""


@dataclass(frozen=True)
class Gone:
    """A socket being deleted, with what its messages' archive records say about it. `private`: no other socket
    reads its queue, so every entry there is its own."""

    socket_id: str
    socket: str
    flow_id: str
    flow: str
    queue_id: str
    private: bool
    owner_id: int


@dataclass
class Waiting:
    queued: int = 0
    retrying: int = 0

    @property
    def blocking(self) -> int:
        return self.queued + self.retrying


def _decode_entry(raw: bytes) -> dict[str, Any] | None:
    try:
        envelope = broker.decode(raw)["envelope"]
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):
        return None
    return envelope if isinstance(envelope, dict) else None


def _mine(gone: Gone, envelope: dict[str, Any] | None) -> bool:
    if envelope is None:
        return gone.private  # an undecodable entry belongs to whoever owns the whole queue
    return str(envelope.get("socket_id")) == gone.socket_id or gone.private


def _list(key: str) -> list[bytes]:
    """A whole Redis list (the runtime's client answers bytes)."""
    return list(broker.client().lrange(key, 0, -1))  # type: ignore[arg-type]


def _retries() -> Iterator[tuple[bytes, dict[str, Any] | None]]:
    members: list[bytes] = list(broker.client().zrange(keys.DELAYED, 0, -1))  # type: ignore[arg-type]
    for member in members:
        try:
            entry = json.loads(member)
            yield member, entry.get("envelope") if isinstance(entry, dict) else None
        except (ValueError, RecursionError):
            yield member, None


def waiting(gone: Iterable[Gone]) -> dict[str, Waiting]:
    """Per socket id: its messages that would still run, queued or waiting for a retry (dead letters never refuse a
    delete: they are archived with the rest)."""
    counts: dict[str, Waiting] = {}
    sockets = list(gone)
    for socket in sockets:
        count = counts.setdefault(socket.socket_id, Waiting())
        queue = keys.queue(socket.queue_id)
        if socket.private:
            count.queued = broker.depth(socket.queue_id)
        elif not broker.on_redis():
            found = broker.peek(socket.queue_id, broker.depth(socket.queue_id))
            count.queued = len([e for e in found if isinstance(e, dict) and _mine(socket, e)])
        else:
            count.queued = len([raw for raw in _list(queue) if _mine(socket, _decode_entry(raw))])
    by_id = {socket.socket_id: socket for socket in sockets}
    for _member, envelope in _retries():
        if envelope is not None and str(envelope.get("socket_id")) in by_id:
            counts[str(envelope["socket_id"])].retrying += 1
    return counts


def _record(gone: Gone, state: str, reason: str, envelope: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": (envelope or {}).get("id"),
        "trace_id": (envelope or {}).get("trace_id"),
        "state": state,
        "reason": reason,
        "archived_at": time.time(),
        "flow": {"id": gone.flow_id, "name": gone.flow},
        "socket": {"id": gone.socket_id, "name": gone.socket},
        **({"envelope": envelope} if envelope is not None else {}),
        **extra,
    }


def _move(script: str, source: str, archive: str, pairs: list[tuple[bytes, dict[str, Any]]]) -> int:
    moved = 0
    for start in range(0, len(pairs), BATCH):
        argv: list[Any] = []
        for member, record in pairs[start : start + BATCH]:
            argv += [member, json.dumps(record, default=str)]
        moved += _run(script, [source, archive], argv)
    return moved


def _run(script: str, script_keys: list[str], argv: list[Any]) -> int:
    return int(broker.patient(lambda: broker.script(script)(keys=script_keys, args=argv)))


def _fail_traces(records: list[dict[str, Any]]) -> None:
    """Whoever waits on an archived message (ingest ?wait, the SDK) hears of it now instead of timing out."""
    for record in records:
        envelope = record.get("envelope")
        if not isinstance(envelope, dict) or not envelope.get("tracked") or record["state"] == "dead":
            continue
        error = {
            "socket": record["socket"]["name"],
            "socket_id": record["socket"]["id"],
            "message_id": envelope["id"],
            "error": f"the message was not run: {record['reason']}; it is in the flow owner's dead-letter archive",
            "error_type": "SocketDeleted",
            "traceback": "",
            "attempts": int(envelope.get("attempt") or 1),
        }
        traces.complete(
            message_id=envelope["id"],
            trace_id=envelope["trace_id"],
            tracked=True,
            error=error,
            answer=workflows.failed(envelope, error) if workflows.is_workflow_call(envelope) else None,  # type: ignore[arg-type]
            answer_to=workflows.answer_to(envelope) if workflows.is_workflow_call(envelope) else None,  # type: ignore[arg-type]
        )


def _archive_one(gone: Gone, reason: str) -> int:
    client = broker.client()
    archive = keys.archive(gone.owner_id)
    moved = 0
    queue = keys.queue(gone.queue_id)
    if gone.private:  # entries of its queue that were never messages, kept aside by a worker
        quarantine = keys.quarantine(gone.queue_id)
        odd = [
            (raw, _record(gone, "quarantined", reason, None, raw=raw.decode(errors="replace")))
            for raw in _list(quarantine)
        ]
        moved += _move(_MOVE_FROM_LIST, quarantine, archive, odd)
    if not broker.on_redis():
        records: list[dict[str, Any]] = []

        def take(envelope: Any) -> bool:
            if not (isinstance(envelope, dict) and _mine(gone, envelope)):
                return False
            record = _record(gone, "queued", reason, envelope)
            broker.patient(lambda: client.rpush(archive, json.dumps(record, default=str)))  # before its ack
            records.append(record)
            return True

        moved += kombu_broker.drain(gone.queue_id, take)
        _fail_traces(records)
    while broker.on_redis():  # entries may arrive while the first batch moves
        # Oldest first (the list's right end), so that the archive, read newest first, keeps their order.
        pairs = [
            (raw, _record(gone, "queued", reason, envelope))
            for raw in reversed(_list(queue))
            if _mine(gone, envelope := _decode_entry(raw))
        ]
        if not pairs:
            break
        count = _move(_MOVE_FROM_LIST, queue, archive, pairs)
        moved += count
        _fail_traces([record for _raw, record in pairs])
        if count == 0:
            break
    if gone.private:  # the queue goes with it, and so do the wake tokens of its workers
        client.delete(redis_transport.wake(queue))
    if not gone.socket_id:  # a queue no socket reads (flows/services/queues.py): nothing more is its
        return moved
    retries = [
        (member, _record(gone, "retrying", reason, envelope))
        for member, envelope in _retries()
        if envelope is not None and str(envelope.get("socket_id")) == gone.socket_id
    ]
    moved += _move(_MOVE_FROM_SET, keys.DELAYED, archive, retries)
    _fail_traces([record for _member, record in retries])
    dead_key = keys.dead_letters(gone.socket_id)
    dead = []
    for raw in _list(dead_key):
        try:
            letter = json.loads(raw)
        except (ValueError, RecursionError):
            letter = None
        envelope = letter.get("envelope") if isinstance(letter, dict) else None
        extra: dict[str, Any] = {}
        if isinstance(letter, dict):
            extra["error"] = {k: v for k, v in letter.items() if k != "envelope"}
        if envelope is None:
            extra["raw"] = raw.decode(errors="replace")
        dead.append((raw, _record(gone, "dead", reason, envelope, **extra)))
    moved += _move(_MOVE_FROM_LIST, dead_key, archive, dead)
    # Whatever else the socket had: its schedule (the due time and the once-only key of each slot).
    stale = [keys.schedule_due(gone.socket_id), *client.scan_iter(f"{keys.schedule_due(gone.socket_id)}:*", 1000)]
    client.delete(*stale)
    return moved


def archive(gone: Iterable[Gone], *, reason: str) -> int:
    """Move every message of these sockets to their owners' archives, remove their keys, and leave tombstones
    for late arrivals. Returns how many messages were moved."""
    sockets = list(gone)
    if not sockets:
        return 0
    client = broker.client()
    now = time.time()
    client.hset(
        keys.DELETED,
        mapping={s.socket_id: json.dumps({**asdict(s), "reason": reason, "at": now}) for s in sockets},
    )
    return sum(_archive_one(socket, reason) for socket in sockets)


def tombstone(socket_id: str) -> tuple[Gone, str] | None:
    """The deleted socket `socket_id` (and why it went), if it went less than TOMBSTONE_SECONDS ago."""
    raw = broker.client().hget(keys.DELETED, socket_id)
    if raw is None:
        return None
    data = json.loads(raw)
    reason = data.pop("reason", "the socket was deleted")
    data.pop("at", None)
    return Gone(**data), reason


def archive_late(socket_id: str, envelope: dict[str, Any]) -> bool:
    """A message taken for a socket deleted moments ago (its worker still routed with the old topology, or gave it
    back on restart): added to the owner's archive, after which its worker acknowledges it. False when there is no
    tombstone."""
    found = tombstone(socket_id)
    if found is None:
        return False
    gone, reason = found
    record = _record(gone, "queued", reason, envelope)
    broker.patient(lambda: broker.client().rpush(keys.archive(gone.owner_id), json.dumps(record, default=str)))
    _fail_traces([record])
    return True


def sweep() -> int:
    """Archive what arrived for recently deleted sockets after their delete; forget old tombstones."""
    client = broker.client()
    moved = 0
    for socket_id, raw in client.hgetall(keys.DELETED).items():
        data = json.loads(raw)
        if time.time() - float(data.get("at", 0)) > TOMBSTONE_SECONDS:
            client.hdel(keys.DELETED, socket_id)
            continue
        found = tombstone(socket_id.decode() if isinstance(socket_id, bytes) else socket_id)
        if found is not None:
            moved += _archive_one(*found)
    return moved


# -- the owner's side -------------------------------------------------------------------------------------------


def entries(owner_id: int, *, offset: int = 0, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
    """(how many there are, a page of them, newest first)."""
    client = broker.client()
    key = keys.archive(owner_id)
    total = int(client.llen(key))
    end = total - 1 - offset
    start = max(0, end - limit + 1)
    raws: list[bytes] = list(client.lrange(key, start, end)) if end >= 0 else []  # type: ignore[arg-type]
    out = []
    for raw in reversed(raws):
        try:
            out.append(json.loads(raw))
        except (ValueError, RecursionError):
            out.append({"undecodable": raw[:200].decode(errors="replace")})
    return total, out


def remove(owner_id: int, message_id: str) -> bool:
    client = broker.client()
    key = keys.archive(owner_id)
    for raw in _list(key):
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and record.get("id") == message_id:
            return bool(client.lrem(key, 1, raw))  # type: ignore[arg-type]
    return False


def purge(owner_id: int) -> int:
    client = broker.client()
    pipe = client.pipeline(transaction=True)
    pipe.llen(keys.archive(owner_id))
    pipe.delete(keys.archive(owner_id))
    count, _ = pipe.execute()
    return int(count)


_MOVE_ENTRIES = """
-- KEYS: old queue, new queue, its wake list, the old queue's; ARGV: entries, newest first; each goes to the taking
-- end of the new queue, and a wake token to the workers waiting on it (the old queue's, emptied, is spent)
local moved = 0
for i = 1, #ARGV do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[i])
    moved = moved + 1
  end
end
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[4]) end
if moved > 0 then
  redis.call('LPUSH', KEYS[3], '1')
  redis.call('LTRIM', KEYS[3], 0, __LAST__)
end
return moved
""".replace("__LAST__", str(redis_transport.WAKE_TOKENS - 1))


def move_queue(socket_id: str, old_queue_id: str, new_queue_id: str) -> int:
    """A socket moved to another queue: what waited for it in the old one follows it, oldest taken first. (Left
    behind, its messages would strand in a dropped queue, or circle in a shared one between workers that do not
    serve it.)"""
    if not broker.on_redis():

        def follow(envelope: Any) -> bool:
            if not (isinstance(envelope, dict) and str(envelope.get("socket_id")) == socket_id):
                return False
            broker.publish([(new_queue_id, envelope)])  # type: ignore[list-item]  # confirmed before the old one is acknowledged
            return True

        return kombu_broker.drain(old_queue_id, follow)
    old, new = keys.queue(old_queue_id), keys.queue(new_queue_id)
    mine = [raw for raw in _list(old) if str((_decode_entry(raw) or {}).get("socket_id")) == socket_id]
    moved = 0
    for start in range(0, len(mine), BATCH):
        wakes = [redis_transport.wake(new), redis_transport.wake(old)]
        moved += _run(_MOVE_ENTRIES, [old, new, *wakes], list(mine[start : start + BATCH]))
    return moved
