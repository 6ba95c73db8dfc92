from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from flows.validators import storable_json


class Flow(models.Model):
    """A drawn dataflow: processors, their sockets and the plugs between them, plus the canvas layout."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="flows")
    # Canvas state: {"processors": {"<processor id>": {"x": .., "y": ..}}, "viewport": {...}}.
    layout = models.JSONField(default=dict, blank=True, validators=[storable_json])
    # Bumped by every graph change; a client saving an older version gets 409 instead of overwriting.
    version = models.PositiveIntegerField(default=1)
    # A chaos drill (ElasticFlow's chaos_spirits): this percentage of calls fails with an injected ChaosError before
    # the function runs, so that retries, error plugs and dead letters can be seen working. Only the owner sets it.
    chaos = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(45)],
        help_text="Percent of calls (0 to 45) failed on purpose before their function runs; 0 is off.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="flow_name_unique_per_owner")]
        permissions = [
            ("run_task", "Send messages to the flow's sockets"),
            ("start_processor", "Start the flow's processors"),
            ("stop_processor", "Stop the flow's processors"),
            ("pause_processor", "Pause the flow's processors"),
            ("resume_processor", "Resume the flow's processors"),
            ("view_code", "View the code of the flow's processors"),
        ]

    def __str__(self) -> str:
        return self.name


# Direct foreign keys instead of guardian's generic tables: permission filters become plain indexed joins.
class FlowUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Flow, on_delete=models.CASCADE)


class FlowGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Flow, on_delete=models.CASCADE)
