"""Interval and cron schedules of source sockets: the agent fires due ones as ordinary messages.

The next due time lives in Redis together with the schedule it was planned from, and each firing takes a once-only
key for its slot, so several agents (or an agent restarted mid-slot) never fire one slot twice. A socket whose
schedule is not the one its due time was planned from is planned anew from now, so an edit takes effect at the next
pass whatever saved it (the API, a graph PUT, an import, the admin, a shell).

Cron is standard (Vixie) cron, by cronsim: five fields, minute hour day-of-month month day-of-week, in UTC; when both
day-of-month and day-of-week are restricted, a day matching either one fires.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from cronsim import CronSim, CronSimError

from flows.models import Plug, Socket
from flows.models.processor import RequestedStatus
from flows.runtime import broker, keys
from flows.runtime.envelope import new_envelope

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.1
# How long the once-only key of a fired slot is kept: far longer than a pass can hold a due time it has read.
SLOT_TTL = 24 * 3600


class ScheduleError(ValueError):
    pass


def parse_cron(expression: str) -> str:
    """`expression` with single spaces; ScheduleError, saying what is wrong, unless it is a five-field cron
    expression that fires."""
    _next_cron(expression, datetime.now(tz=UTC))
    return " ".join(expression.split())


def _next_cron(expression: str, after: datetime) -> datetime:
    """The first minute strictly after `after` (an aware datetime) that the expression matches, in UTC."""
    if len(expression.split()) != 5:
        # cronsim also takes a sixth field (seconds) first; standard cron has five.
        raise ScheduleError(
            f'cron "{expression}" needs 5 fields: minute hour day-of-month month day-of-week (UTC), e.g. "*/5 * * * *"'
        )
    try:
        return next(CronSim(expression, after.astimezone(UTC)))
    except CronSimError as exc:
        raise ScheduleError(
            f'cron "{expression}" is not valid: {exc} (fields: minute hour day-of-month month day-of-week, UTC)'
        ) from exc
    except StopIteration:
        raise ScheduleError(f'cron "{expression}" never fires') from None


def next_due(schedule: dict[str, Any], after: float) -> float:
    """Epoch seconds of the first firing strictly after `after`."""
    if "interval" in schedule:
        interval = schedule["interval"]
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < MIN_INTERVAL:
            raise ScheduleError(f"interval {interval!r} is not a number of seconds of at least {MIN_INTERVAL}")
        return after + float(interval)
    return _next_cron(str(schedule["cron"]), datetime.fromtimestamp(after, tz=UTC)).timestamp()


def _plan(schedule: dict[str, Any], due: float) -> str:
    return json.dumps({"due": due, "schedule": schedule}, sort_keys=True)


def _planned_due(raw: bytes | str | None, schedule: dict[str, Any]) -> float | None:
    """The due time kept in Redis, or None when there is none or it was planned from another schedule (or by a
    version that kept only the bare time)."""
    if raw is None:
        return None
    try:
        plan = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(plan, dict) or plan.get("schedule") != schedule:
        return None
    due = plan.get("due")
    return float(due) if isinstance(due, int | float) and not isinstance(due, bool) else None


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
        key = keys.schedule_due(socket_id)
        try:
            due = _planned_due(client.get(key), schedule)
            if due is None:
                # New, or edited since its slot was planned: the next slot comes from the schedule as it is now.
                client.set(key, _plan(schedule, next_due(schedule, now)))
                continue
            if now < due:
                continue
            full = _full(client, bounded.get(str(socket_id), []))
            if full:
                # Back pressure (flows/runtime/pressure.py): the slot is skipped, not queued for later.
                log.info("socket %s: schedule slot skipped, queue %s is full", socket_id, full)
            elif client.set(keys.schedule_slot(socket_id, due), "1", nx=True, ex=SLOT_TTL):
                envelope = new_envelope(
                    flow_id=str(flow_id),
                    socket_id=str(socket_id),
                    payload={"scheduled_at": datetime.fromtimestamp(due, tz=UTC).isoformat()},
                )
                broker.publish([(str(queue_id), envelope)])
                fired += 1
            client.set(key, _plan(schedule, next_due(schedule, max(now, due))))
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
    for (queue_id, bound), depth in zip(bounds, broker.depths([q for q, _ in bounds]), strict=True):
        if depth >= bound:
            return queue_id
    return ""
