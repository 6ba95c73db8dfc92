"""Metrics history over REST: time series of a flow, a processor, a socket, of every visible flow, and the top
sockets. Thin views: the query is validated by a serializer, the numbers come from backend/metrics/selectors.py.

A range is `start`/`end` (ISO-8601 or epoch seconds; default the last hour) cut into bins of `step` seconds (a
multiple of 60; default the smallest giving at most DEFAULT_POINTS points). Bins start at multiples of `step` since
the epoch, so start is rounded down and end up to a bin edge; the answer says which range it covers.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.metrics import selectors
from flows.models import Flow, Processor, Socket
from flows.permissions import flows_for, processors_for

DEFAULT_SPAN = 3600
DEFAULT_POINTS = 360
MAX_POINTS = 2000
LATEST_EPOCH = 253402300799  # 9999-12-31T23:59:59Z
ERROR = OpenApiResponse(description="JSON error: {'error': {'code', 'message', 'fields'?}}")
SERIES = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description='{"start", "end", "step", "scope": {"kind", "id", "name"}, "points": [{"t", "in", "out", "errors", '
    '"bytes_in", "bytes_out", "time_ms", "time_avg_ms", "time_max_ms", "p50_ms", "p95_ms", "held_ms", "depth_max"}]}; '
    "t is the bin start (epoch seconds); every bin of the range is present.",
)
ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)


@extend_schema_field(OpenApiTypes.STR)
class InstantField(serializers.Field):
    """A moment given as epoch seconds (1712345678 or 1712345678.5) or ISO-8601 (2024-04-05T19:34:38Z; without an
    offset it is UTC); the value is epoch seconds."""

    default_error_messages = {
        "invalid": "Give epoch seconds (e.g. 1712345678) or an ISO-8601 date and time (e.g. 2024-04-05T19:34:38Z), "
        "not {value!r}.",
        "range": "Give a moment between 1970-01-01 and 9999-12-31, not {value!r}.",
    }

    def to_internal_value(self, data: Any) -> float:
        text = str(data).strip()
        try:
            epoch = float(text)
        except ValueError:
            epoch = self._parse_iso(text)
        if not math.isfinite(epoch) or not 0 <= epoch <= LATEST_EPOCH:
            self.fail("range", value=text)
        return epoch

    def _parse_iso(self, text: str) -> float:
        # An unencoded "+01:00" in a query string arrives as " 01:00".
        for candidate in (text, text.replace(" ", "+")):
            try:
                moment = parse_datetime(candidate)
            except ValueError:
                moment = None
            if moment is not None:
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=dt.UTC)
                return moment.timestamp()
        self.fail("invalid", value=text)
        raise AssertionError  # fail() raises

    def to_representation(self, value: Any) -> Any:
        return value


class RangeQuerySerializer(serializers.Serializer):
    start = InstantField(required=False, help_text="Epoch seconds or ISO-8601; default: an hour before end.")
    end = InstantField(required=False, help_text="Epoch seconds or ISO-8601; default: now.")
    step = serializers.IntegerField(
        required=False,
        min_value=60,
        help_text=f"Bin width in seconds, a multiple of 60; default: the smallest giving at most {DEFAULT_POINTS} "
        f"points. At most {MAX_POINTS} points per request.",
    )

    def validate_step(self, step: int) -> int:
        if step % 60:
            raise serializers.ValidationError(f"Give a multiple of 60 seconds (60, 300, 3600, …), not {step}.")
        return step

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("end", time.time())
        start = attrs.get("start", end - DEFAULT_SPAN)
        if start >= end:
            which = "end" if "end" in attrs else "start"
            raise serializers.ValidationError(
                {which: [f"start ({_iso(start)}) must be before end ({_iso(end)}); end defaults to now."]}
            )
        step = attrs.get("step") or _default_step(start, end)
        first, last = _aligned(start, end, step)
        points = (last - first) // step
        if points > MAX_POINTS:
            fewest = _smallest_step(start, end, MAX_POINTS)
            raise serializers.ValidationError(
                {
                    "step": [
                        f"{step} s over {_iso(start)} to {_iso(end)} makes {points} points, more than {MAX_POINTS}: "
                        f"give a step of at least {fewest} or a shorter range."
                    ]
                }
            )
        return {**attrs, "start": first, "end": last, "step": step}


class TopQuerySerializer(RangeQuerySerializer):
    by = serializers.ChoiceField(
        choices=["errors", "p95"], default="errors", help_text="Rank by errors (count) or p95 (ms)."
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=10)


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def _aligned(start: float, end: float, step: int) -> tuple[int, int]:
    return math.floor(start / step) * step, math.ceil(end / step) * step


def _smallest_step(start: float, end: float, points: int) -> int:
    step = max(60, math.ceil((end - start) / points / 60) * 60)
    while True:
        first, last = _aligned(start, end, step)
        if (last - first) // step <= points:
            return step
        step += 60


def _default_step(start: float, end: float) -> int:
    return _smallest_step(start, end, DEFAULT_POINTS)


def _query(request: Request, serializer_class: type[serializers.Serializer] = RangeQuerySerializer) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _ScopeMetrics(APIView):
    """Base of the three series endpoints: `scoped` finds the object among those the caller may see (404
    otherwise, as for one that does not exist)."""

    kind: selectors.Scope

    def scoped(self, request: Request, pk: Any) -> Flow | Processor | Socket:
        raise NotImplementedError

    def get(self, request: Request, pk: Any) -> Response:
        obj = self.scoped(request, pk)
        query = _query(request)
        points = selectors.scope_series(
            kind=self.kind, scope_id=obj.pk, start=query["start"], end=query["end"], step=query["step"]
        )
        return Response(
            {
                "start": query["start"],
                "end": query["end"],
                "step": query["step"],
                "scope": {"kind": self.kind, "id": str(obj.pk), "name": obj.name},
                "points": points,
            }
        )


_SERIES_SCHEMA = extend_schema(
    parameters=[ID, RangeQuerySerializer], responses={200: SERIES, 400: ERROR, 401: ERROR, 404: ERROR}
)


@_SERIES_SCHEMA
class FlowMetrics(_ScopeMetrics):
    """A flow's metrics history (needs view_flow on it)."""

    kind = "flow"

    def scoped(self, request: Request, pk: Any) -> Flow:
        return get_object_or_404(flows_for(request.user), pk=pk)


@_SERIES_SCHEMA
class ProcessorMetrics(_ScopeMetrics):
    """A processor's metrics history (needs view_processor on it, or view_flow on its flow)."""

    kind = "processor"

    def scoped(self, request: Request, pk: Any) -> Processor:
        return get_object_or_404(processors_for(request.user), pk=pk)


@_SERIES_SCHEMA
class SocketMetrics(_ScopeMetrics):
    """A socket's metrics history (visible as its processor is)."""

    kind = "socket"

    def scoped(self, request: Request, pk: Any) -> Socket:
        sockets: QuerySet[Socket] = selectors.visible_sockets(request.user)
        return get_object_or_404(sockets, pk=pk)


class FlowsMetrics(APIView):
    """The metrics history of every flow the caller may see, by name: {"start", "end", "step", "flows": [{"id",
    "name", "points"}]} (points as in GET /api/flows/{id}/metrics)."""

    @extend_schema(parameters=[RangeQuerySerializer], responses={200: OpenApiTypes.OBJECT, 400: ERROR, 401: ERROR})
    def get(self, request: Request) -> Response:
        query = _query(request)
        flows = selectors.flows_series(user=request.user, start=query["start"], end=query["end"], step=query["step"])
        return Response({"start": query["start"], "end": query["end"], "step": query["step"], "flows": flows})


class TopSockets(APIView):
    """The sockets the caller may see with the most errors, or the slowest p95 (ms), over the range (`step` is not
    used): {"start", "end", "by", "sockets": [{"socket_id", "socket", "processor_id", "flow_id", "flow", "value"}]}."""

    @extend_schema(parameters=[TopQuerySerializer], responses={200: OpenApiTypes.OBJECT, 400: ERROR, 401: ERROR})
    def get(self, request: Request) -> Response:
        query = _query(request, TopQuerySerializer)
        sockets = selectors.top_sockets(
            user=request.user, start=query["start"], end=query["end"], by=query["by"], limit=query["limit"]
        )
        return Response({"start": query["start"], "end": query["end"], "by": query["by"], "sockets": sockets})
