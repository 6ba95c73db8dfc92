"""The one domain error. Services raise it; the API turns it into a JSON error a person can act on."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A request that cannot be carried out as asked.

    `message` says what is wrong and what to do; `extra` carries machine-readable detail such as
    {"field": "plugs[2].target"}. `status` is the HTTP status the API answers with.
    """

    status = 400

    def __init__(self, message: str, extra: dict[str, Any] | None = None, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        if status is not None:
            self.status = status


class Conflict(ApplicationError):
    status = 409


class NotFound(ApplicationError):
    status = 404


class Forbidden(ApplicationError):
    status = 403
