"""Map runs over HTTP (flows/services/maps.py): start one on a socket, read its receipts, retry what did not reach
aggregation. Waiting is a long poll woken by each parcel's answer."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backend.api.serializers import StrictMixin
from flows.models import MapReduce, MapRun
from flows.permissions import flows_for, socket_with_rights
from flows.selectors.maps import map_status
from flows.services.maps import map_retry, map_start

MAX_WAIT = 300.0
ERROR = OpenApiResponse(description="JSON error: {'error': {'code', 'message', 'fields'?}}")


class MapInputSerializer(StrictMixin, serializers.Serializer):
    parcels = serializers.ListField(
        child=serializers.JSONField(), allow_empty=False, help_text="One message per parcel: lines of a file, items."
    )
    reduce = serializers.ChoiceField(choices=MapReduce.choices, default=MapReduce.SUM)


class RetryInputSerializer(StrictMixin, serializers.Serializer):
    pending = serializers.BooleanField(
        default=False, help_text="Also send again the parcels with no answer yet (not only the failed ones)."
    )


class MapRunItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    flow = serializers.UUIDField()
    socket = serializers.CharField(help_text="The socket's name when the run started.")
    parcels = serializers.IntegerField()
    owner = serializers.CharField(allow_null=True, help_text="Who started it.")
    created_at = serializers.DateTimeField()


class MapWaitQuerySerializer(serializers.Serializer):
    wait = serializers.FloatField(required=False, min_value=0, max_value=MAX_WAIT, default=0)


def _wait(request: Request) -> float:
    query = MapWaitQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return float(query.validated_data["wait"])


def map_create(request: Request, socket_id: Any) -> Response:
    """POST /api/sockets/{id}/map (SocketViewSet.map)."""
    socket = socket_with_rights(request.user, socket_id, ["run_task"])
    if socket is None:
        raise Http404
    data = MapInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    wait = _wait(request)
    run = map_start(
        user=request.user,
        socket=socket,
        parcels=list(data.validated_data["parcels"]),
        reduce=data.validated_data["reduce"],
    )
    return Response(map_status(run=run, wait=wait), status=status.HTTP_201_CREATED)


class MapRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Map runs (`ec task map`): parcels sent to one socket, each with a receipt; read them, retry the failed."""

    lookup_value_regex = r"[0-9a-fA-F-]{36}"

    def get_queryset(self) -> Any:
        return MapRun.objects.filter(flow__in=flows_for(self.request.user).values("pk")).order_by("-created_at")

    @extend_schema(responses={200: MapRunItemSerializer(many=True)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The runs you may see (their flow's view right), newest first, without their receipts: GET one for those."""
        runs = self.get_queryset().select_related("owner")
        page = self.paginate_queryset(
            runs.only("id", "flow_id", "socket_name", "parcels", "created_at", "owner__username")
        )
        items = [
            {
                "id": r.pk,
                "flow": r.flow_id,
                "socket": r.socket_name,
                "parcels": len(r.parcels),
                "owner": r.owner.get_username() if r.owner else None,
                "created_at": r.created_at,
            }
            for r in page or []
        ]
        return self.get_paginated_response(MapRunItemSerializer(items, many=True).data)

    @extend_schema(parameters=[MapWaitQuerySerializer], responses={200: OpenApiTypes.OBJECT, 404: ERROR})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The run's receipts: parcels that succeeded, failed (with errors) or are pending, and the aggregate. With
        ?wait=SECONDS, once every parcel has answered or the time is up."""
        return Response(map_status(run=self.get_object(), wait=_wait(request)))

    @extend_schema(
        request=RetryInputSerializer,
        parameters=[MapWaitQuerySerializer],
        responses={202: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT, 403: ERROR, 404: ERROR},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Send again exactly the parcels that did not reach aggregation: the failed ones (and, with "pending": true,
        those with no answer yet). 202 {"retried": [indices], ...status}; with ?wait, 200 once they answered."""
        run = self.get_object()
        data = RetryInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wait = _wait(request)
        before = map_status(run=run)
        indices = [f["index"] for f in before["failed"]]
        if data.validated_data["pending"]:
            indices += before["pending"]
        retried = map_retry(user=request.user, run=run, indices=sorted(indices))
        after = map_status(run=run, wait=wait)
        return Response({"retried": retried, **after}, status=status.HTTP_200_OK if wait else status.HTTP_202_ACCEPTED)
