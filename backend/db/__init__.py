"""Database helpers shared by the web process and the workers (the pooled backend lives in backend/db/postgresql)."""

from __future__ import annotations

from django.db import connections


def release_connections() -> None:
    """Give this thread's database connections back before it blocks (a long poll waits up to a minute): with the
    pool that is a return, not a disconnect, and a thousand waiting clients then hold no PostgreSQL sessions. Inside
    `atomic()` nothing is released, since the transaction still needs its connection."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()
