"""Lists answer a page: ?limit (1 to 1000, default 100) and ?offset (0 or more). DRF's LimitOffsetPagination
silently falls back to the defaults on a bad value; here a bad (or repeated) value is a 400 naming the parameter,
like any other bad input."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000

    def _number(self, request: Any, name: str, *, minimum: int, maximum: int | None, default: int) -> int:
        values = request.query_params.getlist(name)
        if not values:
            return default
        problem = f"Give {name} once, as a whole number from {minimum}" + (f" to {maximum}." if maximum else " up.")
        if len(values) > 1:
            raise exceptions.ValidationError({name: [problem]})
        try:
            number = int(values[0])
        except ValueError:
            raise exceptions.ValidationError({name: [problem]}) from None
        if number < minimum or (maximum is not None and number > maximum):
            raise exceptions.ValidationError({name: [problem]})
        return number

    def get_limit(self, request: Any) -> int:
        return self._number(
            request, self.limit_query_param, minimum=1, maximum=self.max_limit, default=self.default_limit
        )

    def get_offset(self, request: Any) -> int:
        return self._number(request, self.offset_query_param, minimum=0, maximum=None, default=0)
