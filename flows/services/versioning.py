from __future__ import annotations

import uuid

from django.db.models import F
from django.utils import timezone

from backend.errors import Conflict
from flows.models import Flow


def flow_lock(*, flow_id: uuid.UUID | str, expected_version: int | None = None) -> Flow:
    """Lock the flow row for the rest of the transaction; with `expected_version`, refuse a stale edit (409)."""
    flow = Flow.objects.select_for_update().get(pk=flow_id)
    if expected_version is not None and flow.version != expected_version:
        raise Conflict(
            f"The flow was changed by someone else (you edited version {expected_version}, it is now at version "
            f"{flow.version}). Reload the flow, redo your change and save again.",
            {"current_version": flow.version},
        )
    return flow


def flow_version_bump(*, flow: Flow) -> int:
    """Every graph change goes through here, so clients and worker topology caches see a new version."""
    Flow.objects.filter(pk=flow.pk).update(version=F("version") + 1, updated_at=timezone.now())
    flow.refresh_from_db(fields=["version", "updated_at"])
    return flow.version
