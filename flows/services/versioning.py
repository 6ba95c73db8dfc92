from __future__ import annotations

import uuid
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import F, Model
from django.utils import timezone

from backend.errors import Conflict, NotFound
from backend.metrics import publish
from flows.models import Flow, FlowSnapshot


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


def flow_snapshot_keep(*, flow: Flow, document: dict[str, Any]) -> None:
    """Keep `document` (the graph GET just read) as its version's snapshot, if none is kept yet: the version an
    editor loads is always one a later save of theirs can be merged from (a flow made by its first writes, or by
    an older release, has none). One INSERT that does nothing when the snapshot is there."""
    FlowSnapshot.objects.bulk_create(
        [FlowSnapshot(flow=flow, version=document["version"], document=document)], ignore_conflicts=True
    )


def _snapshot(flow: Flow) -> None:
    """Keep the graph as this version leaves it: a save made later from this version merges against it."""
    from flows.selectors.graph import flow_graph_get  # the selectors read models; imported here, not at load

    FlowSnapshot.objects.create(flow=flow, version=flow.version, document=flow_graph_get(flow=flow))
    FlowSnapshot.objects.filter(flow=flow, version__lte=flow.version - FlowSnapshot.KEEP).delete()


def flow_version_bump(*, flow: Flow, by: str = "", client: str = "") -> int:
    """Every graph change goes through here, so clients and worker topology caches see a new version. Once the change
    is committed, everyone with the flow open in the designer is told (a `saved` frame on /ws/flows/<id>/, with who
    saved, when known, and the saving tab's `client` id, which that tab ignores)."""
    Flow.objects.filter(pk=flow.pk).update(version=F("version") + 1, updated_at=timezone.now())
    flow.refresh_from_db(fields=["version", "updated_at"])
    _snapshot(flow)
    frame = {"type": "saved", "flow_id": str(flow.pk), "version": flow.version, "by": by, "client": client}
    transaction.on_commit(lambda: publish.send(publish.flow_group(flow.pk), {"type": "flow.saved", "frame": frame}))
    return flow.version
