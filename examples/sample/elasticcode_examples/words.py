"""Word count as a flow: split → count → aggregate.

split streams one message per line; count turns a line into word counts; aggregate merges counts into a running
total kept in a file in its working directory (run it with concurrency 1) and returns the total so far.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_WORD = re.compile(r"[\w']+")
_TOTALS = Path("word-totals.json")


def split(text: str) -> Iterator[str]:
    for line in str(text).splitlines():
        if line.strip():
            yield line


def count(line: str) -> dict[str, int]:
    return dict(Counter(word.lower() for word in _WORD.findall(line)))


def aggregate(counts: dict[str, int]) -> dict[str, Any]:
    """Add `counts` (word → a whole number) to the running total and return it. A message of any other shape is
    refused before the total is touched, so one bad test message cannot spoil the count for the ones after it."""
    if not isinstance(counts, dict) or not all(_is_count(n) for n in counts.values()):
        raise ValueError(f"aggregate takes word counts such as {{'the': 2}}, not {json.dumps(counts)[:80]}")
    totals = _load()
    totals.update(counts)
    answer = {"top": totals.most_common(5), "words": sum(totals.values())}
    _save(totals)
    return answer


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _load() -> Counter[str]:
    """The total so far; entries that are not counts (left by an older version of this code) are dropped."""
    try:
        stored = json.loads(_TOTALS.read_text()) if _TOTALS.exists() else {}
    except ValueError:
        stored = {}
    return Counter({word: n for word, n in stored.items() if _is_count(n)} if isinstance(stored, dict) else {})


def _save(totals: Counter[str]) -> None:
    # Written beside and renamed over: a crash mid-write leaves the previous total, never half a file.
    partial = _TOTALS.with_suffix(".partial")
    partial.write_text(json.dumps(totals))
    partial.replace(_TOTALS)
