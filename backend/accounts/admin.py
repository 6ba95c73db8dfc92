from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from backend.accounts.models import Privilege
from backend.accounts.services import privilege_revoke


@admin.action(description="Revoke the selected privileges")
def revoke(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Privilege]) -> None:
    for privilege in queryset:
        privilege_revoke(privilege=privilege, revoked_by=request.user)


@admin.register(Privilege)
class PrivilegeAdmin(admin.ModelAdmin):
    list_display = ["user", "group", "right", "content_type", "object_pk", "granted_by", "granted_at"]
    list_filter = ["right"]
    actions = [revoke]
    readonly_fields = ["user", "group", "right", "content_type", "object_pk", "granted_by", "granted_at"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        # Grants go through the privileges API / `ec add privilege`, which also sets the permissions.
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        # Deleting the record alone would leave the permissions in place: revoke (the action) removes both.
        return False
