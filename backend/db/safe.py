"""Text that user code produced (its output, errors, tracebacks), made storable in PostgreSQL whatever it holds.

PostgreSQL's text and jsonb cannot hold NUL, and nothing can encode a lone surrogate as UTF-8 (backend/jsonlimits.py).
Rather than fail the write (and with it every other record of the batch), such characters are written out as the
escapes Python prints for them (`\\x00`, `\\udc00`): the record is stored, and what was odd about it stays visible.
Over-long text is cut to `limit` characters with a note saying how much was left out.
"""

from __future__ import annotations

from backend import jsonlimits

TRUNCATED = "[… {count} more characters not stored]"


def storable_text(value: object, limit: int | None = None) -> str:
    """`value` as text PostgreSQL accepts: NUL and lone surrogates escaped, at most `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    text = jsonlimits.encodable(text)
    if limit is not None and len(text) > limit:
        note = TRUNCATED.format(count=len(text) - limit)
        text = text[:limit] + "\n" + note
    return text


def storable_value(value: object) -> object:
    """A JSON value for a jsonb column, every string and key through `storable_text` (no limit)."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(key): storable_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_value(item) for item in value]
    return value
