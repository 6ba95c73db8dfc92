"""Schedules take effect on save: the scheduler notices a changed schedule at its next pass and plans the next slot
from the new one, whatever path saved it. Cron is standard (Vixie) cron, in UTC.

These call `fire_due(now=...)` directly against the real Redis and database; no agent is started.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from flows.models import Socket
from flows.runtime import broker, keys, schedules
from tests.conftest import Demo, client_for

NOON = datetime(2026, 11, 23, 12, 0, 10, tzinfo=UTC).timestamp()


@pytest.fixture
def source(demo: Demo) -> Iterator[Socket]:
    """demo.s1 with a schedule of 600 s, its processor running, and the scheduler's first pass made at NOON."""
    Socket.objects.filter(pk=demo.s1.pk).update(schedule={"interval": 600})
    demo.p1.requested_status = "running"
    demo.p1.save()
    client = broker.client()
    try:
        assert schedules.fire_due(NOON) == 0  # the first pass only plans the first slot, NOON + 600
        yield demo.s1
    finally:
        client.delete(keys.queue(demo.s1.queue_id), *client.scan_iter(f"{keys.schedule_due(demo.s1.pk)}*"))


def fired_at(socket: Socket) -> list[str]:
    """When the slots of the messages the schedule put on the socket's queue were due, oldest first."""
    raws = broker.client().lrange(keys.queue(socket.queue_id), 0, -1)
    return sorted(broker.decode(raw)["envelope"]["payload"]["scheduled_at"] for raw in raws)


def test_an_interval_shortened_from_600_to_2_seconds_fires_within_seconds(source: Socket) -> None:
    # A queryset update bypasses every save hook: the scheduler must notice by itself.
    Socket.objects.filter(pk=source.pk).update(schedule={"interval": 2})

    assert schedules.fire_due(NOON + 1) == 0  # plans NOON + 3 from the new schedule
    assert schedules.fire_due(NOON + 2.9) == 0
    assert schedules.fire_due(NOON + 3.1) == 1
    assert schedules.fire_due(NOON + 5.2) == 1
    assert len(fired_at(source)) == 2


def test_a_change_to_cron_every_minute_fires_at_the_next_minute_boundary(source: Socket, alice: Any) -> None:
    answer = client_for(alice).patch(f"/api/sockets/{source.pk}/", {"schedule": {"cron": "* * * * *"}}, format="json")
    assert answer.status_code == 200, answer.content

    assert schedules.fire_due(NOON + 5) == 0  # 12:00:15 plans 12:01:00
    assert schedules.fire_due(NOON + 49.9) == 0  # 12:00:59.9
    assert schedules.fire_due(NOON + 50.2) == 1  # 12:01:00.2
    assert schedules.fire_due(NOON + 80) == 0
    assert schedules.fire_due(NOON + 110.5) == 1  # 12:02:00.5
    assert fired_at(source) == ["2026-11-23T12:01:00+00:00", "2026-11-23T12:02:00+00:00"]


def test_an_unchanged_schedule_keeps_its_planned_slot(source: Socket) -> None:
    # Saving the socket without changing its schedule must not push the slot further out.
    source.refresh_from_db()
    source.save()

    assert schedules.fire_due(NOON + 599) == 0
    assert schedules.fire_due(NOON + 600.5) == 1


def test_a_slot_planned_by_an_older_version_is_planned_anew(source: Socket) -> None:
    # Before schedules were fingerprinted the key held the bare due time: it is planned again from the schedule.
    broker.client().set(keys.schedule_due(source.pk), NOON + 10_000)

    assert schedules.fire_due(NOON + 1) == 0
    assert schedules.fire_due(NOON + 601.5) == 1


def days_fired(expression: str, start: datetime, count: int) -> list[date]:
    after, days = start.timestamp(), []
    for _ in range(count):
        after = schedules.next_due({"cron": expression}, after)
        days.append(datetime.fromtimestamp(after, tz=UTC).date())
    return days


def days_where(start: date, count: int, matches: Any) -> list[date]:
    days: list[date] = []
    day = start
    while len(days) < count:
        if matches(day):
            days.append(day)
        day += timedelta(days=1)
    return days


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        # Both restricted: cron fires on a day that matches either field (every 13th and every Friday).
        ("0 0 13 * 5", lambda d: d.day == 13 or d.weekday() == 4),
        ("0 0 1,15 * mon", lambda d: d.day in (1, 15) or d.weekday() == 0),
        # One restricted: only that one counts.
        ("0 0 13 * *", lambda d: d.day == 13),
        ("0 0 * * 5", lambda d: d.weekday() == 4),
        ("0 0 * * 0", lambda d: d.weekday() == 6),  # 0 and 7 are both Sunday
        ("0 0 * * 7", lambda d: d.weekday() == 6),
    ],
)
def test_cron_day_of_month_and_day_of_week_are_standard_cron(expression: str, matches: Any) -> None:
    start = datetime(2026, 11, 1, 0, 0, 30, tzinfo=UTC)

    assert days_fired(expression, start, 12) == days_where(date(2026, 11, 2), 12, matches)


def test_a_cron_slot_is_fired_on_a_friday_that_is_not_the_13th(source: Socket) -> None:
    Socket.objects.filter(pk=source.pk).update(schedule={"cron": "0 0 13 * 5"})
    broker.client().delete(keys.schedule_due(source.pk))  # as if it had always had this schedule
    thursday = datetime(2026, 11, 19, 12, 0, tzinfo=UTC).timestamp()

    assert schedules.fire_due(thursday) == 0  # plans Friday the 20th, 00:00 UTC
    assert schedules.fire_due(thursday + 12 * 3600 + 1) == 1
    assert fired_at(source) == ["2026-11-20T00:00:00+00:00"]
