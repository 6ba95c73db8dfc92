"""Interval and cron schedules on source sockets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from flows.models import Call, Socket
from flows.runtime.schedules import ScheduleError, next_due, parse_cron
from tests.runtime.conftest import Runtime, start
from tests.runtime.test_flow_runs import client_for
from tests.runtime.test_lifecycle import two_step

pytestmark = pytest.mark.runtime


def test_next_due() -> None:
    assert next_due({"interval": 5}, 100.0) == 105.0
    noon = datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC).timestamp()
    due = datetime.fromtimestamp(next_due({"cron": "*/5 * * * *"}, noon), tz=UTC)
    assert (due.hour, due.minute) == (12, 5)
    # Day of month and day of week are not swapped: the 1st of the month, whatever weekday it is.
    first = datetime.fromtimestamp(next_due({"cron": "0 0 1 * *"}, noon), tz=UTC)
    assert (first.month, first.day, first.hour) == (12, 1, 0)
    with pytest.raises(ScheduleError, match="5 fields"):
        parse_cron("* * *")


def test_bad_cron_is_refused_by_the_api(demo: Any, alice: Any) -> None:
    answer = client_for(alice).patch(f"/api/sockets/{demo.s1.pk}/", {"schedule": {"cron": "99 * * * *"}}, format="json")
    assert answer.status_code == 400 and "schedule" in answer.json()["error"]["fields"]


def test_interval_schedule_fires(runtime: Runtime, alice: Any, sink_repo: str) -> None:
    _flow, p1, p2, s1, s2 = two_step(alice, sink_repo)
    Socket.objects.filter(pk=s1.pk).update(schedule={"interval": 0.5})
    start(p1, p2)
    runtime.start_agent()
    runtime.wait_status(p2, "running")
    runtime.wait_for(lambda: Call.objects.filter(socket=s2).count() >= 3, 30, "three scheduled messages at the sink")
    first = Call.objects.filter(socket=s1).order_by("started_at").first()
    assert first is not None and first.parent_id is None
