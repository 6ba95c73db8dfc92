"""SDK compositions over HTTP: POST a pipeline/parallel/funnel tree, long-poll its answer.

The wait is a long poll: the request returns as soon as the last call completes (the worker wakes it through
Redis), so a client never waits longer than the work plus one round trip, and never polls on a timer.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from backend.api.serializers import StrictMixin
from flows.selectors.workflows import workflow_answer_get
from flows.services.workflows import workflow_submit

MAX_WAIT = 60.0
ERROR = OpenApiResponse(description="JSON error: {'error': {'code', 'message', 'fields'?}}")


class WorkflowInputSerializer(StrictMixin, serializers.Serializer):
    workflow = serializers.JSONField(
        help_text='{"call": {"socket": id, "args": [...]}} | {"pipeline": [...]} | {"parallel": [...]} | '
        '{"funnel": {"parallel": [...], "final": node}}'
    )


class WaitQuerySerializer(serializers.Serializer):
    wait = serializers.FloatField(required=False, min_value=0, max_value=MAX_WAIT, default=0)


def _answer(workflow_id: str, answer: dict[str, Any] | None) -> Response:
    if answer is None:
        return Response({"id": workflow_id, "status": "running"}, status=status.HTTP_202_ACCEPTED)
    return Response({"id": workflow_id, **answer})


class WorkflowViewSet(viewsets.ViewSet):
    """Compositions of socket calls (the SDK's pipeline, parallel and funnel), run on the processors' workers."""

    lookup_value_regex = r"[0-9a-fA-F-]{36}"

    @extend_schema(
        request=WorkflowInputSerializer,
        parameters=[WaitQuerySerializer],
        responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT, 400: ERROR, 403: ERROR, 404: ERROR},
    )
    def create(self, request: Request) -> Response:
        """Start a composition. 202 {"id", "status": "running"}; with ?wait=SECONDS (≤ 60) the answer when it
        comes sooner: 200 {"id", "status": "succeeded", "result"} or {"id", "status": "failed", "error": {"socket",
        "path", "error", "error_type", "traceback", ...}}."""
        query = WaitQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = WorkflowInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workflow_id = workflow_submit(user=request.user, tree=data.validated_data["workflow"])
        wait = query.validated_data["wait"]
        answer = workflow_answer_get(user=request.user, workflow_id=workflow_id, wait=wait) if wait else None
        return _answer(workflow_id, answer)

    @extend_schema(
        parameters=[WaitQuerySerializer], responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT, 404: ERROR}
    )
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        """The answer (200), or 202 {"status": "running"} when it is not in after ?wait=SECONDS (≤ 60)."""
        query = WaitQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        answer = workflow_answer_get(user=request.user, workflow_id=str(pk), wait=query.validated_data["wait"])
        return _answer(str(pk), answer)
