"""One exception handler: every error leaves the API as {"error": {"code", "message", "fields"?, ...}}.

`message` is one sentence a person can act on; `fields` maps each bad field (dotted path, list indexes in
brackets) to its problems, so a client can point at the exact input to fix.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from backend.errors import ApplicationError

# Domain errors carry a status; their code matches what DRF's own errors of that status say.
_CODES = {400: "invalid", 403: "forbidden", 404: "not_found", 409: "conflict", 413: "too_large", 429: "throttled"}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """{"plugs": [{}, {"target": ["..."]}]} or {"plugs": {1: {"target": ["..."]}}} → {"plugs[1].target": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, int):
                # DRF 3.16+ reports the items of a list as {index: errors} (LIST_SERIALIZER_ERRORS_AS_DICT); the
                # documented path of an item is "processors[1]", not "processors.1".
                path = f"{prefix}[{key}]"
            if key == "non_field_errors":
                path = prefix or "non_field_errors"
            flat.update(flatten_errors(value, path))
    elif isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            flat.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    flat.update(flatten_errors(item, f"{prefix}[{index}]"))
    else:
        flat.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return flat


def _summary(fields: dict[str, list[str]]) -> str:
    first_field, problems = next(iter(fields.items()))
    more = f" (and {len(fields) - 1} more field(s))" if len(fields) > 1 else ""
    if first_field == "non_field_errors":
        return f"{problems[0]}{more}"
    return f"{first_field}: {problems[0]}{more}"


def error_response(code: str, message: str, http_status: int, **extra: Any) -> Response:
    return Response({"error": {"code": code, "message": message, **extra}}, status=http_status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        answer = error_response(_CODES.get(exc.status, "error"), exc.message, exc.status, **exc.extra)
        if exc.status == status.HTTP_429_TOO_MANY_REQUESTS:
            answer["Retry-After"] = str(exc.extra.get("retry_after", 1))
        return answer
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found: it does not exist or you may not see it.")
    elif isinstance(exc, ObjectDoesNotExist):
        # Found by the view, then gone before the write locked it: another request deleted it (or its flow) in
        # between. The same answer as if the delete had come first.
        exc = exceptions.NotFound("Not found: it was deleted (or its flow was) while this request ran.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        response.data = {
            "error": {"code": "invalid", "message": _summary(fields) if fields else "Invalid input.", "fields": fields}
        }
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        if isinstance(detail, dict | list):
            fields = flatten_errors(detail)
            response.data = {"error": {"code": str(code), "message": _summary(fields), "fields": fields}}
        else:
            response.data = {"error": {"code": str(code), "message": str(detail)}}
    if response.status_code == status.HTTP_401_UNAUTHORIZED and "message" in response.data["error"]:
        response.data["error"]["message"] += (
            " Send 'Authorization: Token <token>' (POST /api/auth/token/ gives one) or log in."
        )
    return response
