"""The JSON the platform carries and stores: one policy for depth, lone surrogates and NUL, used by the API's parser
and renderer, the runtime (what user code returns) and the database layer (README: Limits).

- **Depth**: a value nested deeper than ELASTICCODE_MAX_JSON_DEPTH levels (default 100, like common JSON libraries'
  defaults: .NET 64, serde_json 128) is refused where it enters. Python's own json stops near 1,000 with a
  RecursionError, and a value just under that breaks whatever wraps it next (an envelope, a page of results).
- **Lone surrogates** (`"\\udc00"` without its pair) are not Unicode text: nothing can encode them as UTF-8, so they
  are refused where they enter, and the API's renderer writes them as JSON escapes where a record holds one
  (backend/api/renderers.py) instead of failing the whole answer.
- **NUL** (`"\\u0000"`) is fine in a message, which lives in the broker, but PostgreSQL's text and jsonb cannot hold
  it: fields stored there refuse it (`find_nul`); text user code produces is escaped instead (backend/db/safe.py).

Every check returns the path of the first offending place (`data.items[3].name`), so an error can say where.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import Any


class JSONLimitError(ValueError):
    """A JSON value the platform will not carry: `path` says where (`` for the whole value), the text says why."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


def max_depth() -> int:
    from django.conf import settings

    return int(settings.ELASTICCODE_MAX_JSON_DEPTH)


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _walk(value: Any, path: str = "", depth: int = 1) -> Iterator[tuple[str, Any, int]]:
    """(path, value, depth) of every value and dictionary key, iteratively (no recursion limit)."""
    stack: list[tuple[str, Any, int]] = [(path, value, depth)]
    while stack:
        path, value, depth = stack.pop()
        yield path, value, depth
        if isinstance(value, dict):
            for key, item in value.items():
                child = _join(path, key)
                yield child, key, depth + 1  # keys are strings that need checking too
                stack.append((child, item, depth + 1))
        elif isinstance(value, list | tuple):
            stack.extend((_join(path, index), item, depth + 1) for index, item in enumerate(value))


def too_deep(value: Any, limit: int | None = None, path: str = "") -> str | None:
    """The path of the first container nested deeper than `limit` levels ([x] is 1 level, [[x]] 2), or None.
    Iterative, and only containers are followed: a long flat list costs one isinstance per item."""
    limit = max_depth() if limit is None else limit
    stack: list[tuple[str, Any, int]] = [(path, value, 1)]
    while stack:
        where, item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[tuple[Any, Any]] = item.items()
        elif isinstance(item, list | tuple):
            children = enumerate(item)
        else:
            continue
        if depth > limit:
            return where
        stack.extend(
            (_join(where, key), child, depth + 1) for key, child in children if isinstance(child, dict | list | tuple)
        )
    return None


def _is_lone_surrogate_text(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def lone_surrogate(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) holding a lone surrogate, or None."""
    for where, item, _depth in _walk(value, path):
        if isinstance(item, str) and _is_lone_surrogate_text(item):
            return where
    return None


def find_nul(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) holding NUL, which PostgreSQL cannot store, or None."""
    for where, item, _depth in _walk(value, path):
        if isinstance(item, str) and "\x00" in item:
            return where
    return None


def check(
    value: Any, *, raw: bytes | str | None = None, path: str = "", limit: int | None = None, around: int = 0
) -> None:
    """Refuse a decoded value deeper than the limit or holding a lone surrogate (JSONLimitError). `raw`, the text it
    was decoded from, makes both checks free for the common case: fewer brackets than the limit cannot nest that
    deep, and a lone surrogate can only come from a `\\ud…` escape. `around`: levels of containers around the
    values the limit is for (a list of results is 1), allowed on top of it."""
    limit = max_depth() if limit is None else limit
    data = raw.encode() if isinstance(raw, str) else raw
    may_nest = data is None or data.count(b"[") + data.count(b"{") > limit + around
    if may_nest and (where := too_deep(value, limit + around, path)) is not None:
        # Where it starts to go too deep matters, not the hundred levels of [0] after it.
        short = where if len(where) <= 60 else where[:60] + "…"
        raise JSONLimitError(f"nested more than {limit} levels deep (ELASTICCODE_MAX_JSON_DEPTH)", short)
    may_hold = data is None or b"\\ud" in data or b"\\uD" in data
    if may_hold and (where := lone_surrogate(value, path)) is not None:
        raise JSONLimitError("holds a lone surrogate (half of a UTF-16 pair), which is not text", where)


def encodable(text: str) -> str:
    """`text` with lone surrogates written as their escapes (`\\udc00`), so it encodes as UTF-8; free for ASCII."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value


def loads(raw: bytes | str, *, around: int = 0) -> Any:
    """Decode JSON under the policy. Raises JSONLimitError (a ValueError) for what the policy refuses, ValueError
    (json.JSONDecodeError) for what is not JSON at all. NaN, Infinity and 1e400 are refused: JSON has no such
    numbers, and PostgreSQL's jsonb and other clients cannot read them back."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise JSONLimitError(f"nested more than {max_depth()} levels deep (ELASTICCODE_MAX_JSON_DEPTH)") from None
    check(value, raw=raw, around=around)
    return value
