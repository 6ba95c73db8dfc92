"""The per-process PostgreSQL pool (backend/db/postgresql/base.py) against the real embedded server."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg2
import pytest
from django.db import connection, connections, transaction
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from backend.db import release_connections
from backend.db.postgresql.base import Pool

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(work: Callable[[], Any]) -> Any:
    """Run `work` in a new thread, as ASGI runs each request, closing its connections as Django does at the end."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = work()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return out["value"]


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def raw_connection() -> Any:
    return psycopg2.connect(**connection.get_connection_params())


def test_it_reuses_a_session_across_requests_in_different_threads() -> None:
    first, second = in_thread(backend_pid), in_thread(backend_pid)
    assert first == second


def test_it_rolls_back_what_a_request_left_open() -> None:
    def leave_a_transaction_open() -> int:
        connection.set_autocommit(False)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE left_open (id int)")
        return backend_pid()

    def next_request() -> tuple[int, bool, int, bool]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('left_open') IS NOT NULL")
            exists = cursor.fetchone()[0]
        return backend_pid(), connection.get_autocommit(), connection.connection.info.transaction_status, exists

    pid = in_thread(leave_a_transaction_open)
    assert in_thread(next_request) == (pid, True, TRANSACTION_STATUS_IDLE, False)


def test_it_does_not_pool_a_connection_closed_inside_atomic() -> None:
    def close_inside_atomic() -> int:
        with transaction.atomic():
            pid = backend_pid()
            connection.close()
        return pid

    def close_after_an_error() -> int:
        pid = backend_pid()
        connection.errors_occurred = True  # what wrap_database_errors sets on a DatabaseError
        return pid

    pid = in_thread(close_inside_atomic)
    assert in_thread(backend_pid) != pid
    pid = in_thread(close_after_an_error)
    assert in_thread(backend_pid) != pid


def test_release_connections_gives_the_session_back_before_a_wait() -> None:
    def request_that_waits() -> tuple[int, int]:
        pid = backend_pid()
        release_connections()
        # While this request "waits", another one gets the same session instead of a new one.
        return pid, in_thread(backend_pid)

    pid, meanwhile = in_thread(request_that_waits)
    assert meanwhile == pid


def test_it_pings_a_connection_idle_past_ping_after_and_replaces_a_dead_one() -> None:
    pool = Pool(size=2, idle_timeout=60, ping_after=0)
    dead = raw_connection()
    pool.give(dead)
    with raw_connection() as killer, killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [dead.get_backend_pid()])
    time.sleep(0.05)
    assert pool.take() is None
    assert dead.closed


def test_it_keeps_at_most_size_idle_and_drops_those_idle_too_long() -> None:
    pool = Pool(size=1, idle_timeout=0.05, ping_after=10)
    kept, extra = raw_connection(), raw_connection()
    pool.give(kept)
    pool.give(extra)
    assert extra.closed and not kept.closed
    assert pool.take() is kept
    pool.give(kept)
    time.sleep(0.1)
    assert pool.take() is None
    assert kept.closed


def test_a_forked_child_never_uses_or_ends_its_parents_sessions() -> None:
    parent_pid = in_thread(backend_pid)  # now idle in the pool
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: a query of its own, then exit without cleanup
        try:
            os.write(write, str(in_thread(backend_pid)).encode())
        finally:
            os._exit(0)
    os.close(write)
    child_backend = int(os.read(read, 32) or 0)
    os.close(read)
    os.waitpid(child, 0)
    assert child_backend not in (0, parent_pid)
    assert in_thread(backend_pid) == parent_pid  # still alive: the child did not terminate it
