"""The metrics history in the Django admin: read-only, and only the minutes of flows the staff user may see (as
every list of flows/admin.py)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from backend.metrics.models import SocketMinute
from flows.admin import StaffSeesOwnObjects
from flows.permissions import flows_for, has_flow_perm


@admin.register(SocketMinute)
class SocketMinuteAdmin(StaffSeesOwnObjects, admin.ModelAdmin):
    list_display = [
        "minute",
        "flow",
        "processor",
        "socket",
        "msgs_in",
        "msgs_out",
        "errors",
        "time_max_ms",
        "depth_max",
    ]
    list_select_related = ["flow", "processor", "socket"]
    # Counting a large history for the paginator costs more than the page; the admin then shows "more" links.
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[SocketMinute]:
        return super().get_queryset(request).filter(flow__in=flows_for(request.user).values("pk"))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or has_flow_perm(request.user, "view_flow", obj.flow)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
