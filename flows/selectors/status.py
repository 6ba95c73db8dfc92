"""Reads about what runs."""

from __future__ import annotations

from typing import Any

from flows.models import Processor
from flows.models.processor import Status


def processors_not_running(*, flow_id: Any) -> list[dict[str, str]]:
    """The flow's processors that are not running, with their status and why: where its messages are waiting."""
    rows = (
        Processor.objects.filter(flow_id=flow_id)
        .exclude(status=Status.RUNNING)
        .order_by("name")
        .values("name", "status", "status_message")
    )
    return [
        {"name": row["name"], "status": row["status"], "status_message": row["status_message"][:300]} for row in rows
    ]


def waiting_on(processors: list[dict[str, str]]) -> str:
    """'processor greeter is error (…)'-style words for an answer that timed out; '' when all run."""
    if not processors:
        return ""
    parts = [
        f"{p['name']} is {p['status']}" + (f" ({p['status_message']})" if p["status_message"] else "")
        for p in processors
    ]
    return f" Not running in this flow: {'; '.join(parts)}. Its messages wait in their queues until it runs."
