"""Reading an SDK composition's answer (flows/runtime/workflows.py), for the caller who submitted it."""

from __future__ import annotations

from typing import Any

from backend.db import release_connections
from backend.errors import NotFound
from flows.runtime import keys, workflows
from flows.runtime.broker import client, patient


def workflow_answer_get(*, user: Any, workflow_id: str, wait: float = 0.0) -> dict[str, Any] | None:
    """{"status": "succeeded", "result"} or {"status": "failed", "error"}; None while it runs (after waiting up to
    `wait` seconds). Only its submitter (or a superuser) may read it: anyone else gets the same 404 as for an id
    that never existed."""
    raw = patient(lambda: client().get(keys.workflow_owner(workflow_id)))
    owner = raw.decode() if isinstance(raw, bytes) else raw
    if owner is None or not (user.is_superuser or owner == str(user.pk)):
        raise NotFound(f"No composition {workflow_id} of yours (they are kept {keys.RESULT_TTL // 3600} hours).")
    if wait > 0:
        release_connections()
        return workflows.wait(workflow_id, wait)
    return workflows.answer(workflow_id)
