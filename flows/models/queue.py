from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Queue(models.Model):
    """A broker queue in front of a socket. One per socket unless sockets share one on purpose. Every queue is
    durable (no accepted message is lost); `max_length` is back pressure, and a message older than `message_ttl`
    is dead-lettered unrun (flows/runtime/handler.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    max_length = models.PositiveIntegerField(null=True, blank=True, help_text="Back pressure above this depth.")
    message_ttl = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds a message may wait; an older one is dead-lettered unrun."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Who made it (`ec add queue`, POST /api/queues/): until a socket uses it, a queue belongs to no flow, and its
    # maker still sees, tunes and deletes it.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
