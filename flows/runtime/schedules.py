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

from flows.models import Plug, Socket
from flows.models.processor import RequestedStatus
from flows.runtime import broker, keys
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
    rows = list(
        Socket.objects.filter(schedule__isnull=False, processor__requested_status=RequestedStatus.RUNNING).values_list(
            "id", "flow_id", "queue_id", "schedule", "max_queue_length", "queue__max_length"
        )
    )
    bounded = _bounded_queues(rows)
    for socket_id, flow_id, queue_id, schedule, _own, _queue in rows:
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
            full = _full(client, bounded.get(str(socket_id), []))
            if full:
                # Back pressure (flows/runtime/pressure.py): the slot is skipped, not queued for later.
                log.info("socket %s: schedule slot skipped, queue %s is full", socket_id, full)
            elif client.set(f"{key}:{int(due)}", "1", nx=True, ex=24 * 3600):
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


def _bounded_queues(rows: list[tuple[Any, ...]]) -> dict[str, list[tuple[str, int]]]:
    """Per scheduled socket, (queue id, bound) of its own queue and of its plugs' target queues that have a bound."""
    out: dict[str, list[tuple[str, int]]] = {}
    for socket_id, _flow, queue_id, _schedule, own, of_queue in rows:
        if bound := own or of_queue:
            out.setdefault(str(socket_id), []).append((str(queue_id), bound))
    targets = Plug.objects.filter(source_id__in=[row[0] for row in rows]).values_list(
        "source_id", "target__queue_id", "target__max_queue_length", "target__queue__max_length"
    )
    for source, queue_id, own, of_queue in targets:
        if bound := own or of_queue:
            out.setdefault(str(source), []).append((str(queue_id), bound))
    return out


def _full(client: Any, bounds: list[tuple[str, int]]) -> str:
    """The first queue at or over its bound ('' when all have room)."""
    if not bounds:
        return ""
    pipe = client.pipeline(transaction=False)
    for queue_id, _bound in bounds:
        pipe.llen(keys.queue(queue_id))
    for (queue_id, bound), depth in zip(bounds, pipe.execute(), strict=True):
        if depth >= bound:
            return queue_id
    return ""
