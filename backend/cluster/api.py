"""Nodes, agents, workers and schedulers: the machines processors run on. Seen with the LS_* / READ_* rights."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Model, QuerySet, Sum
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backend.api.serializers import StrictMixin
from backend.cluster import services as cluster_services
from backend.cluster.models import Agent, Node, ScaleEvent, Scheduler, Worker
from backend.cluster.placement import strategy_named
from backend.errors import Conflict, Forbidden
from flows.permissions import processors_for


def _global(request: Request, codename: str) -> bool:
    return bool(request.user.is_superuser or request.user.has_perm(f"cluster.{codename}"))


class NodeSerializer(StrictMixin, serializers.ModelSerializer):
    slots_used = serializers.SerializerMethodField(help_text="CPU slots the replicas placed on it take")

    def get_slots_used(self, node: Node) -> int:
        return int(getattr(node, "slots", None) or 0)

    class Meta:
        model = Node
        fields = [
            "id", "name", "hostname", "cpus", "slots_used", "memory_mb", "oversubscribe", "status", "last_heartbeat",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "slots_used", "oversubscribe", "status", "last_heartbeat", "created_at"]
        # No uniqueness pre-check (a 400): the database finds a taken name and _save answers 409.
        extra_kwargs: dict[str, dict[str, Any]] = {"name": {"validators": []}}


class AgentSerializer(serializers.ModelSerializer):
    node = serializers.CharField(source="node.name", read_only=True)

    class Meta:
        model = Agent
        fields = ["id", "name", "node", "pid", "version", "status", "last_heartbeat", "created_at"]
        read_only_fields = fields


class WorkerSerializer(serializers.ModelSerializer):
    agent = serializers.CharField(source="agent.name", read_only=True)

    class Meta:
        model = Worker
        fields = ["id", "name", "processor", "agent", "concurrency", "status", "pid", "started_at", "last_heartbeat"]
        read_only_fields = fields


class SchedulerSerializer(StrictMixin, serializers.ModelSerializer):
    nodes = serializers.SlugRelatedField(slug_field="name", queryset=Node.objects.all(), many=True, required=False)

    def validate_strategy(self, value: str) -> str:
        try:
            strategy_named(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    class Meta:
        model = Scheduler
        fields = ["id", "name", "nodes", "strategy", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs: dict[str, dict[str, Any]] = {"name": {"validators": []}}  # as NodeSerializer


class _GlobalCrud(viewsets.ModelViewSet):
    """CRUD gated by global cluster permissions (view/add/change/delete_<model>)."""

    model: type[Model]

    def _name(self) -> str:
        return self.model._meta.model_name or ""

    def get_queryset(self) -> QuerySet[Any]:
        if not _global(self.request, f"view_{self._name()}"):
            return self.model._default_manager.none()
        return self.model._default_manager.all()

    def _require(self, action: str) -> None:
        if not _global(self.request, f"{action}_{self._name()}"):
            verb = {"add": "ADD", "change": "UPDATE", "delete": "DELETE"}[action]
            raise Forbidden(
                f"You may not {action} {self._name()}s: ask an administrator for {verb}_{self._name().upper()}."
            )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Before validation, so that a caller without the right learns nothing (e.g. which names are taken).
        self._require("add")
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        self._save(serializer)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        self._require("change")
        self._save(serializer)

    def _save(self, serializer: serializers.BaseSerializer) -> None:
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            raise Conflict(
                f"A {self._name()} with that name already exists; pick another name.",
                {"fields": {"name": ["already taken"]}},
            ) from None

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        self._require("delete")
        obj.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class NodeViewSet(_GlobalCrud):
    model = Node
    serializer_class = NodeSerializer
    filterset_fields = ["name", "status"]

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().annotate(slots=Sum("deployments__cpus"))

    @extend_schema(
        request=None,
        responses={
            200: OpenApiTypes.OBJECT,
            403: OpenApiResponse(description="JSON error: {'error': {'code', 'message', 'fields'?}}"),
        },
    )
    @action(detail=False, methods=["post"])
    def rebalance(self, request: Request) -> Response:
        """Spread the replicas that failover or a late-joining node left crowded on one node, by live moves, as
        placement never does by itself: {"moves": ["relay#2: n2 → n3", …]} (UPDATE_NODE)."""
        return Response({"moves": cluster_services.cluster_rebalance(user=request.user)})


class SchedulerViewSet(_GlobalCrud):
    model = Scheduler
    serializer_class = SchedulerSerializer
    filterset_fields = ["name"]

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().prefetch_related("nodes")


class AgentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = AgentSerializer
    filterset_fields = ["name", "status"]

    def get_queryset(self) -> QuerySet[Agent]:
        if not _global(self.request, "view_agent"):
            return Agent.objects.none()
        return Agent.objects.select_related("node").order_by("name")


class WorkerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Workers of the processors the caller may see (all of them with LS_WORKERS)."""

    serializer_class = WorkerSerializer
    filterset_fields = ["processor", "status"]

    def get_queryset(self) -> QuerySet[Worker]:
        workers = Worker.objects.select_related("agent").order_by("name")
        if _global(self.request, "view_worker"):
            return workers
        return workers.filter(processor__in=processors_for(self.request.user).values("pk"))


class ScaleEventSerializer(serializers.ModelSerializer):
    processor_name = serializers.CharField(source="processor.name", read_only=True)
    flow = serializers.UUIDField(source="processor.flow_id", read_only=True)

    class Meta:
        model = ScaleEvent
        fields = ["id", "processor", "processor_name", "flow", "at", "action", "replicas_from", "replicas_to", "reason"]
        read_only_fields = fields


class ScaleEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The autoscaler's decisions (grow, shrink, blocked) for the processors the caller may see, newest first."""

    serializer_class = ScaleEventSerializer
    filterset_fields = ["processor", "action"]

    def get_queryset(self) -> QuerySet[ScaleEvent]:
        events = ScaleEvent.objects.select_related("processor").order_by("-at", "-id")
        return events.filter(processor__in=processors_for(self.request.user).values("pk"))
