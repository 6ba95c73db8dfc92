"""A map run's status from its receipts (flows/services/maps.py): which parcels reached aggregation, which failed
(with their errors) and which are still on their way, and the aggregate of the answers so far."""

from __future__ import annotations

import json
import time
from typing import Any

from flows.models import MapRun
from flows.runtime import keys
from flows.runtime.broker import client, patient

PREVIEW = 200  # characters of a parcel shown with its failure


def _answers(run: MapRun) -> list[dict[str, Any] | None]:
    names = [keys.map_answer(run.pk, index, int(attempt)) for index, attempt in enumerate(run.attempts)]
    values: list[Any] = []
    for start in range(0, len(names), 1000):
        chunk = names[start : start + 1000]
        values += patient(lambda chunk=chunk: client().mget(chunk))  # type: ignore[misc]
    return [json.loads(value) if value else None for value in values]


def _wait(run: MapRun, seconds: float) -> list[dict[str, Any] | None]:
    """The answers, once every parcel has one or `seconds` passed (woken by each answer: no polling)."""
    deadline = time.monotonic() + seconds
    while True:
        answers = _answers(run)
        left = deadline - time.monotonic()
        if all(answer is not None for answer in answers) or left <= 0:
            return answers
        patient(lambda: client().blpop([keys.map_notify(run.pk)], timeout=min(left, 1.0)))  # noqa: B023


def reduce_sum(values: list[Any]) -> Any:
    """Numbers added; dicts merged key by key, recursively (word counts add up); lists joined; otherwise the list of
    values as they are."""
    if not values:
        return None
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return sum(values)
    if all(isinstance(v, dict) for v in values):
        merged: dict[str, list[Any]] = {}
        for value in values:
            for key, item in value.items():
                merged.setdefault(key, []).append(item)
        return {key: reduce_sum(items) if len(items) > 1 else items[0] for key, items in merged.items()}
    if all(isinstance(v, list) for v in values):
        return [item for value in values for item in value]
    return values


def _preview(parcel: Any) -> str:
    text = parcel if isinstance(parcel, str) else json.dumps(parcel, ensure_ascii=False)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def map_status(*, run: MapRun, wait: float = 0) -> dict[str, Any]:
    """{"id", "socket", "parcels", "succeeded", "failed": [{"index", "parcel", "attempts", "error"}], "pending":
    [index, ...], "status": running | succeeded | failed, "aggregate", "created_at"}: `failed` and `pending` are
    the parcels that did not reach aggregation (what `ec task retry` sends again)."""
    answers = _wait(run, wait) if wait else _answers(run)
    results: list[Any] = []
    failed: list[dict[str, Any]] = []
    pending: list[int] = []
    for index, answer in enumerate(answers):
        if answer is None:
            pending.append(index)
        elif answer.get("status") == "succeeded":
            results.append((index, answer.get("result")))
        else:
            error = answer.get("error") or {}
            failed.append(
                {
                    "index": index,
                    "parcel": _preview(run.parcels[index]),
                    "attempts": int(run.attempts[index]),
                    "error": {
                        k: error.get(k) for k in ("error", "error_type", "traceback", "socket", "chain") if k in error
                    },
                }
            )
    values = [value for _, value in results]
    aggregate = reduce_sum(values) if run.reduce == "sum" else [dict(results).get(i) for i in range(len(answers))]
    status = "running" if pending else ("failed" if failed else "succeeded")
    return {
        "id": str(run.pk),
        "flow": str(run.flow_id),
        "socket": run.socket_name,
        "reduce": run.reduce,
        "parcels": len(answers),
        "succeeded": len(results),
        "failed": failed,
        "pending": pending,
        "status": status,
        "aggregate": aggregate,
        "created_at": run.created_at.isoformat(),
    }
