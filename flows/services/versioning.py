from __future__ import annotations

import uuid
from typing import TypeVar

from django.db.models import F, Model
from django.utils import timezone

from backend.errors import Conflict, NotFound
from flows.models import Flow


def flow_lock(*, flow_id: uuid.UUID | str, expected_version: int | None = None) -> Flow:
    """Lock the flow row for the rest of the transaction; with `expected_version`, refuse a stale edit (409). A flow
    deleted since the caller found it (a write racing the delete) is a 404, as if the delete had come first."""
    flow = Flow.objects.select_for_update().filter(pk=flow_id).first()
    if flow is None:
        raise NotFound("Not found: the flow was deleted while this request ran.", {"flow": str(flow_id)})
    if expected_version is not None and flow.version != expected_version:
        raise Conflict(
            f"The flow was changed by someone else (you edited version {expected_version}, it is now at version "
            f"{flow.version}). Reload the flow, redo your change and save again.",
            {"current_version": flow.version},
        )
    return flow


M = TypeVar("M", bound=Model)


def row_lock(model: type[M], pk: object) -> M:
    """Lock one row of the flow being edited, read afresh: a write racing the row's delete is a 404, never an
    update of nothing or (Model.save's UPDATE-then-INSERT) the resurrection of a deleted row."""
    row = model._default_manager.select_for_update().filter(pk=pk).first()
    if row is None:
        raise NotFound(f"Not found: the {model._meta.verbose_name} was deleted while this request ran.")
    return row


def flow_version_bump(*, flow: Flow) -> int:
    """Every graph change goes through here, so clients and worker topology caches see a new version."""
    Flow.objects.filter(pk=flow.pk).update(version=F("version") + 1, updated_at=timezone.now())
    flow.refresh_from_db(fields=["version", "updated_at"])
    return flow.version
