"""Previews of what passes through: JSON text cut at a byte limit, on a character boundary, ending with "…" when cut.
Lineage keeps them (ELASTICCODE_LINEAGE_PREVIEW_BYTES), taps carry them (ELASTICCODE_TAP_PREVIEW_BYTES); neither
ever keeps whole data."""

from __future__ import annotations

import json
from typing import Any


def cut(raw: bytes, limit: int) -> str:
    """JSON text `raw` cut at `limit` bytes (on a character boundary), ending with "…" when cut."""
    if len(raw) <= limit:
        return raw.decode("utf-8", "replace")
    return raw[:limit].decode("utf-8", "ignore") + "…"


def encoded(value: Any) -> bytes:
    """`value` as JSON bytes; b"" for what JSON cannot hold (a message's values came as JSON, so this is a guard)."""
    try:
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "replace")
    except (TypeError, ValueError, RecursionError):
        return b""


def of(value: Any, limit: int) -> str:
    """`value` as JSON text cut at `limit` bytes."""
    return cut(encoded(value), limit)
