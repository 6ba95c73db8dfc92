"""The OpenAPI document (/api/schema/, drf-spectacular) says what every operation can answer, errors included.

Every error leaves the API in one shape (backend/api/errors.py). `AutoSchema` documents that shape once, as the
`Error` component, on each operation that can answer a given error status, so a view declares only its success
responses and the errors that mean something special there (a 409 with `current_version`, a 413 on one field).
No 405 is documented: DRF answers it (JSON, with `Allow`) only for a method a path does not have, which is no
operation of the document.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.plumbing import build_mock_request as spectacular_mock_request
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error the API answers (backend/api/errors.py).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Machine-readable kind, e.g. invalid, parse_error, not_authenticated, "
                    "authentication_failed, permission_denied, forbidden, not_found, conflict, too_large, "
                    "unsupported_media_type, throttled.",
                },
                "message": {"type": "string", "description": "One sentence saying what is wrong and what to do."},
                "fields": {
                    "type": "object",
                    "description": "Each bad input, by path (processors[0].sockets[1].name), with its problems.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["code", "message"],
            # Some errors carry more detail, e.g. a 409's current_version or a 403's missing permission.
            "additionalProperties": True,
        }
    },
    "required": ["error"],
}

ERROR_DESCRIPTIONS = {
    "400": "Bad input: the message says what to fix; fields names each bad input.",
    "401": "No valid credentials: send 'Authorization: Token <token>' (POST /api/auth/token/ gives one) or log in.",
    "403": "Not allowed: the message names the right that is missing.",
    "404": "No such object (in the path, or named by the body), or one you may not see.",
    "409": "Conflicts with the current state: a name already taken, a newer version, an object still in use.",
    "413": "The request body is larger than ELASTICCODE_MAX_BODY_BYTES.",
    "415": "The request body is not JSON: send it with 'Content-Type: application/json'.",
    "429": "Too many requests: try again after the seconds in Retry-After.",
}

RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}},
}

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema plus the JSON error responses each operation can give."""

    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry: Any
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses: dict[str, Any] = operation["responses"]
        for code in self._error_statuses(operation):
            responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
        error = self._error_component()
        for code, response in responses.items():
            # A view may document an error status with a description only (flows/api/views.py ERROR): its body is
            # still the one error shape.
            if code.startswith("4") and "content" not in response:
                response["content"] = {"application/json": {"schema": error.ref}}
        if "429" in responses:
            responses["429"].setdefault("headers", {}).update(RETRY_AFTER)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_statuses(self, operation: dict[str, Any]) -> list[str]:
        view = self.view
        has_body = "requestBody" in operation
        has_query = any(parameter.get("in") == "query" for parameter in operation.get("parameters", []))
        open_to_all = any(isinstance(permission, AllowAny) for permission in view.get_permissions())
        codes = []
        if has_body or has_query:
            codes.append("400")
        if view.get_authenticators():
            codes.append("401")  # a token or session that is no longer valid, even where none is needed
        if not open_to_all:
            codes.append("403")
        stored = isinstance(view, GenericAPIView)  # views of stored objects; not logging in, metrics or workflows
        if "{" in self.path or (has_body and stored):
            codes.append("404")  # the object in the path, or one the body names (a socket's processor), is not there
        if self.method in _WRITES and stored:
            codes.append("409")
        if has_body:
            codes += ["413", "415"]
        if view.get_throttles():
            codes.append("429")
        return codes

    def _error_component(self) -> ResolvedComponent:
        component = ResolvedComponent(
            name="Error", type=ResolvedComponent.SCHEMA, object="backend.api.errors", schema=ERROR_SCHEMA
        )
        self.registry.register_on_missing(component)
        return component


def build_mock_request(method: str, path: str, view: Any, original_request: Any, **kwargs: Any) -> Request:
    """The request views see while the document is built: the same for every caller.

    Views answer `get_queryset()` by the caller's rights; the document describes the API, not what one caller may
    see, and an anonymous caller (or `manage.py spectacular`) would otherwise get a poorer one (untyped path ids,
    no filter parameters). So views are asked as by a superuser that exists only in memory; no view is executed.
    """
    request = spectacular_mock_request(method, path, view, original_request, **kwargs)
    request.user = get_user_model()(username="openapi-schema", is_superuser=True, is_active=True)
    request.auth = None
    return request
