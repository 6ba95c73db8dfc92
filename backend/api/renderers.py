"""The API's JSON renderer: DRF's, but an answer never fails on what a stored record holds (backend/jsonlimits.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.http import Http404
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer


class _EscapingRenderer(DRFJSONRenderer):
    ensure_ascii = True


class JSONRenderer(DRFJSONRenderer):
    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)  # type: ignore[arg-type]
        except UnicodeEncodeError:
            # A lone surrogate in a record that came in some other way (a raw Celery client, data from before the
            # parser refused them): escape every non-ASCII character, lone surrogates included, as JSON allows,
            # instead of answering 500 and hiding every other entry of a queue or a dead-letter list.
            return _EscapingRenderer().render(data, accepted_media_type, renderer_context)  # type: ignore[arg-type]


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's, except that an unknown `?format=` is ignored (the answer is JSON) rather than a bare 404: any value
    of any query parameter gets an answer its operation documents (tests/test_fuzz.py found `?format=…` 404ing)."""

    def filter_renderers(self, renderers: Iterable[BaseRenderer], format: str) -> list[BaseRenderer]:
        try:
            return list(super().filter_renderers(renderers, format))
        except Http404:
            return list(renderers)
