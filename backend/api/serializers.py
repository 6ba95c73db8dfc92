from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StrictMixin:
    """Refuse keys the serializer does not know, so a typo ('concurency') is an error rather than ignored.

    `ignored_fields` lists keys a client may send back unchanged from a GET (read-only there), which are dropped.
    """

    ignored_fields: tuple[str, ...] = ()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            known = set(self.fields) | set(self.ignored_fields)  # type: ignore[attr-defined]
            unknown = sorted(str(key) for key in data if key not in known)
            if unknown:
                raise serializers.ValidationError(
                    {key: [f"Unknown field; expected one of: {', '.join(sorted(self.fields))}."] for key in unknown}  # type: ignore[attr-defined]
                )
        return super().to_internal_value(data)  # type: ignore[misc]
