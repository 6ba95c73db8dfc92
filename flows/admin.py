"""Django admin for the flow domain. Flows and processors carry object permissions (guardian's admin), and every
list shows only what the logged-in staff user may see."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin

from flows.models import Call, Flow, Plug, Processor, Queue, Socket, TrustedRepository
from flows.permissions import flows_for, has_flow_perm, has_processor_perm, processors_for


class FlowScopedAdmin(admin.ModelAdmin):
    """Objects inside flows: visible and editable as their flow is."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(flow__in=flows_for(request.user).values("pk"))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or has_flow_perm(request.user, "view_flow", obj.flow)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or has_flow_perm(request.user, "change_flow", obj.flow)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or has_flow_perm(request.user, "change_flow", obj.flow)


@admin.register(Flow)
class FlowAdmin(GuardedModelAdmin):
    list_display = ["name", "owner", "version", "updated_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["version", "created_at", "updated_at"]
    # Staff see only flows they may view; guardian's "Object permissions" page manages per-object grants.
    user_can_access_owned_objects_only = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Flow]:
        return flows_for(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or has_flow_perm(request.user, "view_flow", obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_flow_perm(request.user, "change_flow", obj) if obj else request.user.has_perm("flows.change_flow") or request.user.is_staff

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_flow_perm(request.user, "delete_flow", obj) if obj else request.user.has_perm("flows.delete_flow")


@admin.register(Processor)
class ProcessorAdmin(GuardedModelAdmin):
    list_display = ["name", "flow", "requested_status", "status", "commit", "concurrency"]
    list_filter = ["status", "requested_status"]
    search_fields = ["name", "module", "git_url"]
    readonly_fields = ["commit", "status", "status_message", "created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Processor]:
        return processors_for(request.user).select_related("flow")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or has_processor_perm(request.user, "view_processor", obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or has_processor_perm(request.user, "change_processor", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or has_processor_perm(request.user, "delete_processor", obj)


@admin.register(Socket)
class SocketAdmin(FlowScopedAdmin):
    list_display = ["name", "processor", "function", "queue"]
    search_fields = ["name", "function"]
    list_select_related = ["processor", "queue"]


@admin.register(Plug)
class PlugAdmin(FlowScopedAdmin):
    list_display = ["name", "source", "target", "kind"]
    list_select_related = ["source", "target"]


@admin.register(Call)
class CallAdmin(FlowScopedAdmin):
    list_display = ["id", "socket_name", "status", "started_at", "duration_ms", "attempt"]
    list_filter = ["status"]
    search_fields = ["id", "trace_id", "socket_name"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "durable", "max_length", "message_ttl"]
    search_fields = ["name"]


@admin.register(TrustedRepository)
class TrustedRepositoryAdmin(admin.ModelAdmin):
    list_display = ["pattern", "note", "created_at"]
