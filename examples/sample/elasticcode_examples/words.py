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
    totals: Counter[str] = Counter(json.loads(_TOTALS.read_text()) if _TOTALS.exists() else {})
    totals.update(counts)
    _TOTALS.write_text(json.dumps(totals))
    return {"top": totals.most_common(5), "words": sum(totals.values())}
