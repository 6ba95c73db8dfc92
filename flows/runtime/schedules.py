"""Interval and cron schedules of source sockets: the agent fires due ones as ordinary messages.

The next due time lives in Redis, and each firing takes a once-only key for its slot, so several agents (or an
agent restarted mid-slot) never fire one slot twice.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.schedules import crontab

from flows.models import Socket
from flows.models.processor import RequestedStatus
from flows.runtime import broker
from flows.runtime.envelope import new_envelope

log = logging.getLogger(__name__)


class ScheduleError(ValueError):
    pass


def parse_cron(expression: str) -> crontab:
    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError(
            f'cron "{expression}" needs 5 fields: minute hour day-of-month month day-of-week, e.g. "*/5 * * * *"'
        )
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:
        return crontab(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week
        )
    except Exception as exc:  # celery raises ValueError and its own ParseException
        raise ScheduleError(f'cron "{expression}" is not valid: {exc}') from exc


def _next_cron(cron: Any, after: datetime) -> datetime:
    """The first minute after `after` that the expression matches (UTC). Day of month and day of week must both
    match, as in Celery's crontab. (`cron` is a crontab: its fields are sets, untyped in celery-types.)"""
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = after + timedelta(days=366 * 5)
    while t < limit:
        if t.month not in cron.month_of_year:
            t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
        elif t.day not in cron.day_of_month or (t.weekday() + 1) % 7 not in cron.day_of_week:
            t = t.replace(hour=0, minute=0) + timedelta(days=1)
        elif t.hour not in cron.hour:
            t = t.replace(minute=0) + timedelta(hours=1)
        elif t.minute not in cron.minute:
            t += timedelta(minutes=1)
        else:
            return t
    raise ScheduleError("the cron expression never fires")


def next_due(schedule: dict[str, Any], after: float) -> float:
    """Epoch seconds of the first firing strictly after `after`."""
    if "interval" in schedule:
        return after + float(schedule["interval"])
    cron = parse_cron(str(schedule["cron"]))
    return _next_cron(cron, datetime.fromtimestamp(after, tz=UTC)).timestamp()


def fire_due(now: float | None = None) -> int:
    """Publish one message to every scheduled socket whose time has come; returns how many were sent."""
    now = time.time() if now is None else now
    client = broker.client()
    fired = 0
    rows = Socket.objects.filter(
        schedule__isnull=False, processor__requested_status=RequestedStatus.RUNNING
    ).values_list("id", "flow_id", "queue_id", "schedule")
    for socket_id, flow_id, queue_id, schedule in rows:
        if not isinstance(schedule, dict) or not ({"interval", "cron"} & schedule.keys()):
            continue
        key = f"ec:schedule:{socket_id}"
        try:
            due_raw = client.get(key)
            if due_raw is None:
                client.set(key, next_due(schedule, now))
                continue
            due = float(due_raw)
            if now < due:
                continue
            if client.set(f"{key}:{int(due)}", "1", nx=True, ex=24 * 3600):
                envelope = new_envelope(
                    flow_id=str(flow_id),
                    socket_id=str(socket_id),
                    payload={"scheduled_at": datetime.fromtimestamp(due, tz=UTC).isoformat()},
                )
                broker.publish([(str(queue_id), envelope)])
                fired += 1
            client.set(key, next_due(schedule, max(now, due)))
        except ScheduleError as exc:
            log.warning("socket %s: %s", socket_id, exc)
    return fired
