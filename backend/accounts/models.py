"""A record of every right granted: who, what, on which object (or globally), by whom and when.

The grant itself lives where Django and django-guardian check it (user/group permissions, object permission
tables); this table is what `ls privilege` shows and what a revoke removes.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Privilege(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="privileges"
    )
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="privileges")
    right = models.CharField(max_length=64)
    # Both null: granted globally, on every object.
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.CASCADE)
    object_pk = models.CharField(max_length=64, null=True, blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["granted_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True) | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="privilege_user_xor_group",
            ),
            models.CheckConstraint(
                condition=models.Q(content_type__isnull=True, object_pk__isnull=True)
                | models.Q(content_type__isnull=False, object_pk__isnull=False),
                name="privilege_object_complete",
            ),
            models.UniqueConstraint(
                fields=["user", "group", "right", "content_type", "object_pk"],
                name="privilege_unique",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        who = self.user or self.group
        where = f"{self.content_type.model}:{self.object_pk}" if self.content_type else "global"
        return f"{who} {self.right} on {where}"
