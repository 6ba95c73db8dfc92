"""JSON parsing with a hard body-size limit, so an oversized body is refused before it is read into memory."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value


class LimitedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        limit = settings.ELASTICCODE_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        too_large = PayloadTooLarge(
            f"The request body is larger than {limit} bytes; send less data (ELASTICCODE_MAX_BODY_BYTES sets the limit)."
        )
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise too_large
        try:
            # Python reads NaN, Infinity and 1e400 (→ inf), which JSON has not: PostgreSQL's jsonb then refuses them
            # at save time (500), and other clients cannot read them back.
            return json.loads(
                raw.decode((parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)),
                parse_constant=_refuse_constant,
                parse_float=_finite_float,
            )
        except UnicodeDecodeError:
            raise exceptions.ParseError("The request body is not UTF-8 text; send JSON encoded as UTF-8.") from None
        except ValueError as error:
            raise exceptions.ParseError(
                f"The request body is not valid JSON ({error}); check quotes, commas and brackets."
            ) from None
