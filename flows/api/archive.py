"""The caller's dead-letter archive: messages of sockets deleted with ?force=true (flows/runtime/archive.py).

Each user sees only their own archive (the owner of the deleted flow gets its messages), never anyone else's.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.errors import NotFound
from flows.runtime import archive

ERROR = OpenApiResponse(description="JSON error: {'error': {'code', 'message', 'fields'?}}")


class PageQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)
    offset = serializers.IntegerField(required=False, min_value=0, default=0)


def _owner(request: Request) -> int:
    owner = request.user.pk
    assert owner is not None  # authenticated: the API refuses anonymous requests first
    return int(owner)


class ArchiveView(APIView):
    """GET: your archived messages, newest first ({"count", "results"}). DELETE: purge them all."""

    @extend_schema(parameters=[PageQuerySerializer], responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        page = PageQuerySerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        count, results = archive.entries(_owner(request), **page.validated_data)
        return Response({"count": count, "results": results})

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def delete(self, request: Request) -> Response:
        return Response({"purged": archive.purge(_owner(request))})


class ArchivedMessageView(APIView):
    """DELETE one archived message for good, by its message id."""

    @extend_schema(request=None, responses={204: None, 404: ERROR})
    def delete(self, request: Request, message_id: Any) -> Response:
        if not archive.remove(_owner(request), str(message_id)):
            raise NotFound(f"No archived message with id {message_id} in your archive.")
        return Response(status=status.HTTP_204_NO_CONTENT)
