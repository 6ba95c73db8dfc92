"""Per-minute metrics go from Redis into SocketMinute rows exactly once, survive a PostgreSQL failure, and age out.

Minute hashes are written as the workers write them (keys.metric_minute + METRIC_MINUTES) into the suite's real
Redis; each test uses minutes of its own, far in the past, and removes its keys afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection

from backend.metrics import histogram, rollups
from backend.metrics.models import RollupBatch, SocketMinute
from flows.runtime import broker, keys
from flows.runtime.housekeeping import Housekeeper
from tests.conftest import Demo

BASE_DIR = Path(__file__).resolve().parents[2]
Flush = Callable[..., None]


def flush_into(minute: int, socket: Any, **metrics: Any) -> None:
    """What a worker adds for one socket in one second: sums, maxima and histogram buckets (hist={index: n})."""
    client = broker.client()
    name = keys.metric_minute(minute)
    with client.pipeline() as pipe:
        for metric, value in metrics.items():
            field = f"{socket.pk}|{metric}"
            if metric == "hist":
                for index, count in value.items():
                    pipe.hincrby(name, f"{socket.pk}|h{index}", count)
            elif metric in ("time_ms", "held_ms"):
                pipe.hincrbyfloat(name, field, value)
            elif metric in ("time_max", "depth"):
                current = client.hget(name, field)
                if current is None or float(current) < value:
                    pipe.hset(name, field, value)
            else:
                pipe.hincrby(name, field, value)
        pipe.expire(name, keys.METRIC_MINUTE_TTL)
        pipe.zadd(keys.METRIC_MINUTES, {str(minute): minute})
        pipe.execute()


def row(socket: Any, minute: int) -> SocketMinute:
    return SocketMinute.objects.get(socket=socket, minute=dt.datetime.fromtimestamp(minute, tz=dt.UTC))


def hist(**buckets: int) -> list[int]:
    out = histogram.empty()
    for name, count in buckets.items():
        out[int(name[1:])] = count
    return out


def test_a_damaged_field_is_skipped_and_the_minute_still_rolls_up(demo: Demo, minute: int) -> None:
    """Issue 14: no single bad record may stop a loop that serves everyone (the rollup of every flow's minutes)."""
    flush_into(minute, demo.s1, **{"in": 3, "out": 1})
    broker.client().hset(keys.metric_minute(minute), mapping={f"{demo.s1.pk}|errors": "not a number"})

    assert rollups.rollup_minutes(now=minute + 60 + rollups.GRACE_SECONDS) == 1

    written = row(demo.s1, minute)
    assert (written.msgs_in, written.msgs_out, written.errors) == (3, 1, 0)
    assert not broker.client().exists(keys.metric_minute(minute))


def test_it_rolls_a_minute_into_one_row_per_socket_with_exact_sums(demo: Demo, minute: int) -> None:
    # Two workers of p1 flush into the same minute; p2's socket once.
    flush_into(minute, demo.s1, **{"in": 3, "out": 6, "errors": 1, "bytes_in": 30, "bytes_out": 60}, time_ms=4.5,
               time_max=2.5, held_ms=1.25, hist={3: 2, 5: 1}, depth=7)  # fmt: skip
    flush_into(minute, demo.s1, **{"in": 2, "out": 4, "bytes_in": 20, "bytes_out": 40}, time_ms=30.25,
               time_max=30.0, hist={5: 1, 8: 1}, depth=4)  # fmt: skip
    flush_into(minute, demo.s2, **{"in": 6, "errors": 2}, time_ms=0.6, time_max=0.2, hist={1: 6})
    broker.client().hset(keys.metric_minute(minute), mapping={"not-a-socket|in": 5, f"{demo.s1.pk}|future": 1})

    assert rollups.rollup_minutes(now=minute + 60 + rollups.GRACE_SECONDS) == 2

    first = row(demo.s1, minute)
    assert (first.flow_id, first.processor_id) == (demo.flow.pk, demo.p1.pk)
    assert (first.msgs_in, first.msgs_out, first.errors, first.bytes_in, first.bytes_out) == (5, 10, 1, 50, 100)
    assert (first.time_ms, first.time_max_ms, first.held_ms, first.depth_max) == (34.75, 30.0, 1.25, 7)
    assert first.hist == hist(h3=2, h5=2, h8=1)
    second = row(demo.s2, minute)
    assert (second.processor_id, second.msgs_in, second.msgs_out, second.errors) == (demo.p2.pk, 6, 0, 2)
    assert second.time_max_ms == 0.2 and second.depth_max is None and second.hist == hist(h1=6)
    # Gone from Redis once written.
    client = broker.client()
    assert not client.exists(keys.metric_minute(minute))
    assert client.zscore(keys.METRIC_MINUTES, str(minute)) is None
    assert client.zrangebyscore(rollups.PENDING, minute, minute) == []
    assert RollupBatch.objects.filter(key__startswith=f"{keys.metric_minute(minute)}:rolling:").count() == 1


def test_a_late_flush_into_a_rolled_minute_is_added(demo: Demo, minute: int) -> None:
    due = minute + 60 + rollups.GRACE_SECONDS
    flush_into(minute, demo.s1, **{"in": 2, "errors": 1}, time_ms=3.0, time_max=2.0, held_ms=0.5, hist={4: 2},
               depth=3)  # fmt: skip
    assert rollups.rollup_minutes(now=due) == 1
    # A worker that was cut off from Redis flushes its part of the minute minutes later.
    flush_into(minute, demo.s1, **{"in": 1, "bytes_in": 9}, time_ms=40.0, time_max=40.0, hist={4: 1, 9: 1}, depth=2)
    assert broker.client().zscore(keys.METRIC_MINUTES, str(minute)) == minute

    assert rollups.rollup_minutes(now=due + 300) == 1

    rolled = row(demo.s1, minute)
    assert (rolled.msgs_in, rolled.errors, rolled.bytes_in) == (3, 1, 9)
    assert (rolled.time_ms, rolled.time_max_ms, rolled.held_ms) == (43.0, 40.0, 0.5)
    assert rolled.depth_max == 3  # the maximum, not a sum
    assert rolled.hist == hist(h4=3, h9=1)
    assert SocketMinute.objects.filter(socket=demo.s1).count() == 1


def test_a_deleted_socket_is_dropped(demo: Demo, minute: int) -> None:
    flush_into(minute, demo.s1, **{"in": 4}, hist={2: 4})
    flush_into(minute, demo.s2, **{"in": 5}, hist={2: 5})
    demo.s2.delete()

    assert rollups.rollup_minutes(now=minute + 60 + rollups.GRACE_SECONDS) == 1

    assert list(SocketMinute.objects.filter(flow=demo.flow).values_list("socket_id", "msgs_in")) == [(demo.s1.pk, 4)]
    assert not broker.client().exists(keys.metric_minute(minute))


def test_nothing_is_rolled_before_every_worker_has_flushed(demo: Demo, minute: int) -> None:
    flush_into(minute, demo.s1, **{"in": 1})
    assert rollups.rollup_minutes(now=minute + rollups.GRACE_SECONDS - 1) == 0
    assert broker.client().hget(keys.metric_minute(minute), f"{demo.s1.pk}|in") == b"1"
    assert not SocketMinute.objects.exists()

    assert rollups.rollup_minutes(now=minute + rollups.GRACE_SECONDS) == 1
    assert row(demo.s1, minute).msgs_in == 1


def test_a_postgres_failure_keeps_the_counts_in_redis_until_the_next_rollup(demo: Demo, minute: int) -> None:
    flush_into(minute, demo.s1, **{"in": 7}, time_ms=7.0, time_max=1.5, hist={4: 7})
    table = SocketMinute._meta.db_table
    with connection.cursor() as cursor:  # the write fails in PostgreSQL itself
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT refuse_rows CHECK (msgs_in < 0) NOT VALID")

    with pytest.raises(DatabaseError, match="refuse_rows"):
        rollups.rollup_minutes(now=minute + 600)

    assert not SocketMinute.objects.exists() and not RollupBatch.objects.exists()
    client = broker.client()
    [(pending, _)] = client.zrangebyscore(rollups.PENDING, minute, minute, withscores=True)
    assert client.hget(pending, f"{demo.s1.pk}|in") == b"7"
    # Meanwhile a late flush lands in the same minute.
    flush_into(minute, demo.s1, **{"in": 1}, time_max=9.0, hist={6: 1})

    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT refuse_rows")
    assert rollups.rollup_minutes(now=minute + 600) == 1

    rolled = row(demo.s1, minute)
    assert (rolled.msgs_in, rolled.time_ms, rolled.time_max_ms) == (8, 7.0, 9.0)
    assert rolled.hist == hist(h4=7, h6=1)
    assert not client.exists(pending) and client.zrangebyscore(rollups.PENDING, minute, minute) == []


def test_a_hash_already_written_is_not_added_twice(demo: Demo, minute: int) -> None:
    """A rollup that died after its commit (or outlived its lock) leaves its rolling key behind: the next one
    finds its marker and only deletes it."""
    flush_into(minute, demo.s1, **{"in": 2})
    rollups.rollup_minutes(now=minute + 600)
    marker = RollupBatch.objects.get(key__startswith=f"{keys.metric_minute(minute)}:rolling:").key
    client = broker.client()
    client.hset(marker, f"{demo.s1.pk}|in", 2)
    client.zadd(rollups.PENDING, {marker: minute})

    assert rollups.rollup_minutes(now=minute + 600) == 0

    assert row(demo.s1, minute).msgs_in == 2
    assert not client.exists(marker) and client.zscore(rollups.PENDING, marker) is None


def test_it_waits_while_another_process_holds_the_lock(demo: Demo, minute: int) -> None:
    flush_into(minute, demo.s1, **{"in": 1})
    client = broker.client()
    assert client.set(rollups.LOCK, "someone-else", nx=True, ex=30)
    try:
        assert rollups.rollup_minutes(now=minute + 600) == 0
        assert client.exists(keys.metric_minute(minute))
    finally:
        client.delete(rollups.LOCK)
    assert rollups.rollup_minutes(now=minute + 600) == 1


def test_the_agents_housekeeper_rolls_up_and_workers_do_not(demo: Demo) -> None:
    # Housekeeper.tick uses the clock: a minute that ended three minutes ago is due.
    now = int(time.time())
    recent = now - now % 60 - 180
    flush_into(recent, demo.s1, **{"in": 4})
    try:
        Housekeeper(lineage=False).tick()
        assert not SocketMinute.objects.exists()
        assert broker.client().exists(keys.metric_minute(recent))

        agent = Housekeeper(lineage=True)
        agent.tick()
        assert row(demo.s1, recent).msgs_in == 4
        # Not again within ROLLUP_EVERY seconds.
        flush_into(recent, demo.s1, **{"in": 1})
        agent.tick()
        assert row(demo.s1, recent).msgs_in == 4
    finally:
        client = broker.client()
        client.zrem(keys.METRIC_MINUTES, str(recent))
        client.delete(keys.metric_minute(recent))


def test_prune_deletes_minutes_older_than_the_retention_in_batches(
    demo: Demo, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = 1_700_000_000
    settings.ELASTICCODE_METRICS_RETENTION_DAYS = 30
    monkeypatch.setattr(rollups, "PRUNE_BATCH", 2)
    day = 24 * 3600
    ages = {"old": [31 * day, 30 * day + 60, 40 * day, 400 * day, 30 * day + 1], "kept": [30 * day - 60, day - 3600, 0]}
    for kind, seconds in ages.items():
        SocketMinute.objects.bulk_create(
            SocketMinute(
                minute=dt.datetime.fromtimestamp(now - age - (now - age) % 60, tz=dt.UTC),
                flow=demo.flow,
                processor=demo.p1 if kind == "old" else demo.p2,
                socket=demo.s1 if kind == "old" else demo.s2,
                msgs_in=1,
            )
            for age in seconds
        )
    RollupBatch.objects.create(key="ancient", rolled_at=dt.datetime.fromtimestamp(now - 4 * day, tz=dt.UTC))
    RollupBatch.objects.create(key="recent", rolled_at=dt.datetime.fromtimestamp(now - day, tz=dt.UTC))

    assert rollups.prune_history(now=now) == 5

    assert SocketMinute.objects.filter(socket=demo.s1).count() == 0
    assert SocketMinute.objects.filter(socket=demo.s2).count() == 3
    assert list(RollupBatch.objects.values_list("key", flat=True)) == ["recent"]
    settings.ELASTICCODE_METRICS_RETENTION_DAYS = 1
    assert rollups.prune_history(now=now) == 1  # the one a minute short of 30 days
    assert rollups.prune_history(now=now) == 0


@pytest.mark.parametrize("value", ["0", "-3", "thirty"])
def test_a_retention_below_one_day_refuses_to_start(value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; settings.DATABASES"],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "backend.settings.test",
            "ELASTICCODE_METRICS_RETENTION_DAYS": value,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "ELASTICCODE_METRICS_RETENTION_DAYS" in result.stderr
