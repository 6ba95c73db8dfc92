"""PostgreSQL through psycopg2, with a connection pool in each process.

Why: under ASGI every request runs its sync code in a thread of its own (asgiref's ThreadSensitiveContext), and
Django's connections are per thread, so CONN_MAX_AGE cannot keep a connection across requests: without a pool every
request paid for a new PostgreSQL session (TCP, authentication, a backend process forked by the server), measured
as a third of the web process's time on the SDK's hot path (docs/benchmarks.md). Django's own pool needs psycopg 3;
this one keeps psycopg2 (the project's driver) and changes only where a connection comes from and where it goes:

- `get_new_connection` takes the most recently returned idle connection (the warmest) and falls back to connecting;
  one idle for more than `ping_after` seconds is pinged first, so a restarted server costs a reconnect, not an error;
- closing a connection (Django closes it at the end of each request, CONN_MAX_AGE being 0) rolls back whatever the
  request left open and puts it back, unless it broke, was closed inside `atomic()` (Django still holds it then), or
  `size` are already idle; idle connections older than `idle_timeout` seconds are closed;
- a forked child never touches its parent's connections: closing one would end the parent's session too (libpq
  sends Terminate on the shared socket), so the child only forgets them;
- the test database is dropped only after its idle connections are closed (PostgreSQL refuses to drop a database
  that sessions still use).

Configured by DATABASES[alias]["POOL"] = {"size", "idle_timeout", "ping_after"}; no POOL (or size 0) connects and
closes as Django does.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from typing import Any

import psycopg2
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base
from django.db.backends.postgresql.creation import DatabaseCreation as BaseCreation
from django.db.backends.postgresql.psycopg_any import IsolationLevel
from django.db.utils import DEFAULT_DB_ALIAS
from psycopg2.extensions import TRANSACTION_STATUS_IDLE, TRANSACTION_STATUS_UNKNOWN

Connection = Any  # psycopg2.extensions.connection (untyped)


class Pool:
    """Idle connections to one database, newest last; safe to share between threads."""

    def __init__(self, *, size: int, idle_timeout: float, ping_after: float) -> None:
        self.size = size
        self.idle_timeout = idle_timeout
        self.ping_after = ping_after
        self._idle: deque[tuple[Connection, float]] = deque()
        self._lock = threading.Lock()

    def take(self) -> Connection | None:
        """An idle connection that still works, or None."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection, since = self._idle.pop()
            idle_for = time.monotonic() - since
            if connection.closed or idle_for > self.idle_timeout:
                _close_quietly(connection)
            elif idle_for <= self.ping_after or _answers(connection):
                return connection
            else:
                _close_quietly(connection)

    def give(self, connection: Connection) -> None:
        """Keep `connection` for the next request, or close it."""
        if connection.closed:
            return
        status = connection.info.transaction_status
        if status == TRANSACTION_STATUS_UNKNOWN:
            _close_quietly(connection)
            return
        if status != TRANSACTION_STATUS_IDLE:
            try:
                connection.rollback()
            except psycopg2.Error:
                _close_quietly(connection)
                return
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append((connection, time.monotonic()))
                return
        _close_quietly(connection)

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, deque()
        for connection, _ in idle:
            _close_quietly(connection)

    def forget(self) -> None:
        """After a fork: drop the parent's connections without a word to the server (see the module docstring)."""
        _inherited.extend(connection for connection, _ in self._idle)
        self._idle = deque()
        self._lock = threading.Lock()


def _answers(connection: Connection) -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except psycopg2.Error:
        return False


def _close_quietly(connection: Connection) -> None:
    with contextlib.suppress(psycopg2.Error):
        connection.close()


_pools: dict[tuple[str, str], Pool] = {}  # (alias, connection parameters) → pool
_pools_lock = threading.Lock()
# A forked child's copies of its parent's connections: kept referenced, because freeing one closes it.
_inherited: list[Connection] = []


def _after_fork_in_child() -> None:
    global _pools_lock
    _pools_lock = threading.Lock()
    for pool in _pools.values():
        pool.forget()


os.register_at_fork(after_in_child=_after_fork_in_child)


def close_all() -> None:
    """Close every idle connection of this process (before a database is dropped)."""
    with _pools_lock:
        pools = list(_pools.values())
    for pool in pools:
        pool.clear()


class DatabaseCreation(BaseCreation):
    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        close_all()
        super()._destroy_test_db(test_database_name, verbosity)  # type: ignore[misc]  # not in django-stubs


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation

    def _pool(self, conn_params: dict[str, Any]) -> Pool | None:
        options = self.settings_dict.get("POOL") or {}
        if self.alias == NO_DB_ALIAS or not options.get("size"):
            return None
        # Keyed by the parameters too: the test runner renames the database after connections were made.
        key = (self.alias or DEFAULT_DB_ALIAS, repr(sorted(conn_params.items())))
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = Pool(
                    size=int(options["size"]),
                    idle_timeout=float(options.get("idle_timeout", 60)),
                    ping_after=float(options.get("ping_after", 2)),
                )
            return pool

    def get_new_connection(self, conn_params: dict[str, Any]) -> Connection:
        pool = self._pool(conn_params)
        self.connection_pool = pool  # where _close returns this connection
        connection = pool.take() if pool else None
        if connection is None:
            return super().get_new_connection(conn_params)
        # What the parent sets on a new connection (its isolation level stays on the connection itself).
        self.isolation_level = IsolationLevel(
            self.settings_dict["OPTIONS"].get("isolation_level", IsolationLevel.READ_COMMITTED)
        )
        return connection

    def _close(self) -> None:
        pool = getattr(self, "connection_pool", None)
        if pool is None or self.connection is None or self.in_atomic_block or self.errors_occurred:
            super()._close()  # type: ignore[misc]  # not in django-stubs
            return
        with self.wrap_database_errors:
            pool.give(self.connection)
