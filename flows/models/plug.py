from __future__ import annotations

import uuid

from django.db import models


class PlugKind(models.TextChoices):
    RESULT = "result", "result"
    ERROR = "error", "error"


class Plug(models.Model):
    """An edge: carries the source socket's result (or its error) into the target socket's queue."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="plugs")
    name = models.CharField(max_length=200)
    source = models.ForeignKey("flows.Socket", on_delete=models.CASCADE, related_name="outgoing_plugs")
    target = models.ForeignKey("flows.Socket", on_delete=models.CASCADE, related_name="incoming_plugs")
    kind = models.CharField(max_length=8, choices=PlugKind.choices, default=PlugKind.RESULT)
    argument = models.CharField(max_length=200, blank=True, default="", help_text="Target argument, if not the first.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "name"], name="plug_name_unique_per_flow", deferrable=models.Deferrable.DEFERRED
            ),
            models.UniqueConstraint(
                fields=["source", "target", "kind"], name="plug_unique_edge", deferrable=models.Deferrable.DEFERRED
            ),
            models.CheckConstraint(condition=~models.Q(source=models.F("target")), name="plug_not_to_itself"),
            models.CheckConstraint(condition=models.Q(kind__in=PlugKind.values), name="plug_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name
