"""Django admin for the flow domain. Flows and processors carry object permissions (guardian's admin), and every
list shows only what the logged-in staff user may see."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin

from backend.accounts.services import privilege_grant
from flows.models import Call, Flow, Plug, Processor, Queue, Socket, TrustedRepository
from flows.permissions import flows_for, has_flow_perm, has_processor_perm, processors_for
from flows.services.versioning import flow_version_bump


class StaffSeesOwnObjects:
    """Staff open the flows app and its lists; which rows they see and may change is decided per object."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)


class GraphChangeAdmin(StaffSeesOwnObjects, admin.ModelAdmin):
    """An edit in the admin is a graph change like any other: the flow's version moves on."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        flow_version_bump(flow=obj.flow)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        flow = obj.flow
        super().delete_model(request, obj)
        flow_version_bump(flow=flow)


class FlowScopedAdmin(GraphChangeAdmin):
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
class FlowAdmin(StaffSeesOwnObjects, GuardedModelAdmin):  # type: ignore[misc]  # guardian vs django-stubs
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
        return obj is None or has_flow_perm(request.user, "change_flow", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or has_flow_perm(request.user, "delete_flow", obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk}

    def save_model(self, request: HttpRequest, obj: Flow, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            flow_version_bump(flow=obj)
        else:
            # As through the API: the owner holds every right on a new flow.
            privilege_grant(right="ALL", user=obj.owner, obj=obj, granted_by=request.user, check=False)


@admin.register(Processor)
class ProcessorAdmin(GraphChangeAdmin, GuardedModelAdmin):  # type: ignore[misc]
    list_display = ["name", "flow", "requested_status", "status", "commit", "concurrency"]
    list_filter = ["status", "requested_status"]
    search_fields = ["name", "module", "git_url"]
    # scaled_replicas is placement's autoscaler's own (backend/cluster/autoscale.py): shown, not edited.
    readonly_fields = ["commit", "status", "status_message", "scaled_replicas", "created_at", "updated_at"]

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
    list_display = ["name", "max_length", "message_ttl"]
    search_fields = ["name"]


@admin.register(TrustedRepository)
class TrustedRepositoryAdmin(admin.ModelAdmin):
    list_display = ["pattern", "note", "created_at"]
