"""JSON parsing with a hard body-size limit (refused before the body is read into memory) and the platform's JSON
policy (backend/jsonlimits.py): depth, lone surrogates, NaN and infinities are refused with a 400 that says where."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import exceptions, renderers, status
from rest_framework.parsers import BaseParser

from backend import jsonlimits


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def too_large() -> PayloadTooLarge:
    limit = settings.ELASTICCODE_MAX_BODY_BYTES
    return PayloadTooLarge(
        f"The request body is larger than {limit} bytes; send less data (ELASTICCODE_MAX_BODY_BYTES sets the limit)."
    )


class LimitedJSONParser(BaseParser):
    """application/json. Not a subclass of DRF's JSONParser on purpose: DRF reads the whole body of those through
    Django's `request.body`, whose own limit (DATA_UPLOAD_MAX_MEMORY_SIZE) answers an HTML 400 before this parser
    could answer its JSON 413; this one reads the stream itself, at most one byte past the limit."""

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        limit = settings.ELASTICCODE_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise too_large()
        try:
            text = raw.decode((parser_context or {}).get("encoding", settings.DEFAULT_CHARSET))
        except UnicodeDecodeError:
            raise exceptions.ParseError("The request body is not UTF-8 text; send JSON encoded as UTF-8.") from None
        try:
            # The body's own levels ({"data": …}, {"args": [...]}) come on top of the values it carries, which
            # their fields hold to the limit exactly (MessageInputSerializer, the executor's results).
            return jsonlimits.loads(text, around=2)
        except jsonlimits.JSONLimitError as error:
            # A field path names what to fix; the error handler turns {path: [problem]} into `fields`.
            if error.path:
                raise exceptions.ValidationError({error.path: [f"This value {error}."]}) from None
            raise exceptions.ParseError(f"The request body is {error}; send less deeply nested data.") from None
        except ValueError as error:
            raise exceptions.ParseError(
                f"The request body is not valid JSON ({error}); check quotes, commas and brackets."
            ) from None
