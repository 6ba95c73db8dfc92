"""Reading a tap (flows/runtime/taps.py) for the API and the command line: a long poll of one target's events."""

from __future__ import annotations

from typing import Any

from flows.runtime import taps


def tap_read(
    *, flow_id: str, target_id: str, kind: str, cursor: str, wait: float, sample: float, rate: float
) -> dict[str, Any]:
    """Watch `target_id` (renewing its lease) and return its events after `cursor` (none: from now on), waiting up
    to `wait` seconds for the first. {"target", "kind", "events": [...], "cursor"}: pass the cursor back to go on."""
    taps.watch(flow_id, target_id, sample=sample, rate=rate)
    cursors = {target_id: cursor or taps.last_id(target_id)}
    events = [event for _, _, event in taps.read([target_id], cursors, max(int(wait * 1000), 1))]
    return {"target": target_id, "kind": kind, "events": events, "cursor": cursors[target_id]}
