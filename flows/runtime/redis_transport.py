"""kombu's Redis transport with a fetch that cannot lose a message to a killed worker.

kombu's Redis transport takes a message with BRPOP and only then records it as unacknowledged (MULTI: ZADD
`unacked_index`, HSET `unacked`), from the worker. A worker killed between the two (the reply still in its socket
buffer, or read and not yet recorded) loses the message for good: the queue no longer has it and `unacked` never
did. The cluster test found it (tests/cluster/test_nodes.py: a node killed with SIGKILL while 2,000 messages flow;
one probe lost 1 message in 8 kills of a busy worker). The same window is known upstream (kombu's Redis transport
has no atomic take).

Here a take is one Lua script: RPOP from the first non-empty of the worker's queue lists, ZADD and HSET the message
into `unacked`, exactly as kombu would, and return it. Whatever happens to the worker after the script ran, the
message is either in its queue or in `unacked`, from where kombu's visibility timeout gives it back (and
flows/runtime/visibility.py keeps renewing what a live worker holds). The worker then skips kombu's own MULTI for
that message, so a hop costs one round trip less, not more.

A script cannot block, so waiting is done apart from taking: when a take finds every queue empty, the worker blocks
in BLPOP on the queues' wake lists, `wake(queue)`, and takes again when one gets a token (or after `brpop_timeout`,
one second, whatever happens: a publisher that pushes no token only delays). Every publisher of this code base
pushes a token with each message, in the same transaction: broker.publish, a hop's children (traces.py), and,
here, kombu's own publish and restore. A wake list holds at most WAKE_TOKENS tokens.

`install()` registers it for redis:// and rediss:// URLs; the flows app does so when Django starts, so every
process (web, workers, agents, Flower) uses it. RabbitMQ, which acknowledges on the broker, does not need it.
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

from kombu import transport as kombu_transport
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.json import loads

# kombu's type hints do not cover the Redis transport's internals this module extends.
_RedisQoS: Any = kombu_redis.QoS
_RedisChannel: Any = kombu_redis.Channel
_RedisTransport: Any = kombu_redis.Transport

WAKE_PREFIX = "ec:wake:"
WAKE_TOKENS = 64  # at most this many waiting workers are woken by one burst of messages


def wake(queue_key: str) -> str:
    """The wake list of a queue's list key (`ec.<queue id>`)."""
    return f"{WAKE_PREFIX}{queue_key}"


# KEYS: unacked, unacked_index, the queue lists in the order to try, then their queues' wake lists. ARGV: now (the
# client's clock, as kombu's own unacked_index scores), the quarantine list for an entry that is not a kombu message,
# how many queue lists. Returns {queue list, entry}, or false when all are empty: then their wake tokens are spent
# (a publish after this adds a new one), so the wait that follows blocks instead of waking for nothing.
TAKE = """
local last = 2 + tonumber(ARGV[3])
for i = 3, last do
  local entry = redis.call('RPOP', KEYS[i])
  while entry do
    local ok, message = pcall(cjson.decode, entry)
    local properties = ok and type(message) == 'table' and message['properties']
    local info = type(properties) == 'table' and properties['delivery_info']
    local tag = type(properties) == 'table' and properties['delivery_tag']
    if type(info) == 'table' and type(tag) == 'string' then
      redis.call('ZADD', KEYS[2], ARGV[1], tag)
      redis.call('HSET', KEYS[1], tag,
        '[' .. entry .. ',' .. cjson.encode(info['exchange'] or '') .. ',' .. cjson.encode(info['routing_key'] or '') .. ']')
      return {KEYS[i], entry}
    end
    -- Not a message kombu could deliver either: kept aside where a person can look, never lost, never looping.
    redis.call('RPUSH', ARGV[2], entry)
    entry = redis.call('RPOP', KEYS[i])
  end
end
for i = last + 1, #KEYS do
  redis.call('DEL', KEYS[i])
end
return false
"""

QUARANTINE = "ec:quarantine:undeliverable"


class QoS(_RedisQoS):
    def append(self, message: Any, delivery_tag: str) -> None:
        taken: set[str] = self.channel._taken
        if delivery_tag in taken:
            # Already in `unacked`: recorded by the take script, atomically with leaving the queue.
            taken.discard(delivery_tag)
            virtual.QoS.append(self, message, delivery_tag)  # the in-memory bookkeeping only
            return
        super().append(message, delivery_tag)


class Channel(_RedisChannel):
    QoS = QoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.global_keyprefix:
            raise ValueError("ElasticCode's Redis transport does not support global_keyprefix")
        self._taken: set[str] = set()
        self._waiting = False  # the next fetch blocks on the wake lists instead of taking

    # -- taking ------------------------------------------------------------------------------------------------

    def _queue_keys(self, queues: list[str]) -> list[str]:
        return [self._q_for_pri(queue, pri) for pri in self.priority_steps for queue in queues]

    def _brpop_start(self, timeout: float | None = None) -> None:
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        self._in_poll = self.client.connection
        self._brpop_sent_at = time.monotonic()
        if self._waiting:
            wakes = [wake(queue) for queue in queues]
            self.client.connection.send_command("BLPOP", *wakes, timeout or self.brpop_timeout or 0)
            return
        lists = self._queue_keys(queues)
        keys = [self.unacked_key, self.unacked_index_key, *lists, *(wake(queue) for queue in queues)]
        self.client.connection.send_command("EVAL", TAKE, len(keys), *keys, time.time(), QUARANTINE, len(lists))

    def _brpop_read(self, **options: Any) -> bool:
        waiting = self._waiting
        try:
            try:
                reply = self.client.parse_response(self.client.connection, "BLPOP" if waiting else "EVAL", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if waiting:
                # Woken (or timed out): take on the next turn of the event loop.
                self._waiting = False
                raise Empty()
            if not reply:
                self._waiting = True
                raise Empty()
            key, entry = reply
            dest = key.decode() if isinstance(key, bytes) else key
            dest = dest.rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            self._deliver_taken(entry, dest)
            return True
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()

    def _deliver_taken(self, entry: bytes | str, dest: str) -> None:
        message = loads(entry.decode() if isinstance(entry, bytes) else entry)
        self._taken.add(message["properties"]["delivery_tag"])
        self.connection._deliver(message, dest)

    def _get(self, queue: str) -> Any:
        """basic_get's take (no event loop): the same script, so a polling consumer cannot lose one either."""
        lists = self._queue_keys([queue])
        keys = [self.unacked_key, self.unacked_index_key, *lists, wake(queue)]
        with self.conn_or_acquire() as client:
            reply = client.eval(TAKE, len(keys), *keys, time.time(), QUARANTINE, len(lists))
            self._maybe_update_queues_expire(client, queue)
        if not reply:
            raise Empty()
        message = loads(reply[1].decode() if isinstance(reply[1], bytes) else reply[1])
        self._taken.add(message["properties"]["delivery_tag"])
        return message

    # -- publishing: a wake token with each message -------------------------------------------------------------

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        batch = kwargs.get("_publish_batch")
        super()._put(queue, message, **kwargs)
        if batch is not None:
            batch.add("lpush", wake(queue), "1")
            batch.add("ltrim", wake(queue), 0, WAKE_TOKENS - 1)
            return
        with self.conn_or_acquire() as client, client.pipeline() as pipe:
            add_wake(pipe, queue)
            pipe.execute()

    def _do_restore_message(
        self, payload: Any, exchange: str, routing_key: str, pipe: Any, leftmost: bool = False
    ) -> None:
        super()._do_restore_message(payload, exchange, routing_key, pipe, leftmost)
        for queue in self._lookup(exchange, routing_key):
            add_wake(pipe, queue)


def add_wake(pipe: Any, queue_key: str) -> None:
    """Add a wake token for the queue's waiting workers to `pipe`."""
    pipe.lpush(wake(queue_key), "1")
    pipe.ltrim(wake(queue_key), 0, WAKE_TOKENS - 1)


class Transport(_RedisTransport):
    Channel = Channel


def install() -> None:
    """Make redis:// and rediss:// URLs use this transport (kombu caches a resolved alias: cleared too)."""
    for scheme in ("redis", "rediss"):
        kombu_transport.TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
        kombu_transport._transport_cache.pop(scheme, None)  # type: ignore[attr-defined]


__all__ = ["QUARANTINE", "TAKE", "WAKE_TOKENS", "Transport", "add_wake", "wake"]
