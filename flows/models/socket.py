from __future__ import annotations

import uuid

from django.db import models

from flows.validators import storable_json


class Socket(models.Model):
    """One function of a processor, fronted by a durable queue. Addressed by name, unique in its flow."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Denormalised from processor.flow so names can be unique per flow; migration 0002 adds a composite
    # foreign key (processor_id, flow_id) so the two can never disagree.
    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="sockets")
    processor = models.ForeignKey("flows.Processor", on_delete=models.CASCADE, related_name="sockets")
    name = models.CharField(max_length=200)
    function = models.CharField(max_length=200)
    queue = models.ForeignKey("flows.Queue", on_delete=models.PROTECT, related_name="sockets")
    arguments = models.JSONField(
        default=list, blank=True, validators=[storable_json], help_text="Introspected signature of the function."
    )
    # {"interval": seconds} or {"cron": "*/5 * * * *"}, for source sockets; null for none.
    schedule = models.JSONField(null=True, blank=True, validators=[storable_json])
    max_queue_length = models.PositiveIntegerField(null=True, blank=True)
    # A pure function (same arguments, same result, no effects): its results are memoized (flows/runtime/memo.py)
    # by (socket, commit, arguments) for memo_ttl seconds (ELASTICCODE_MEMO_TTL when null).
    pure = models.BooleanField(default=False)
    memo_ttl = models.PositiveIntegerField(null=True, blank=True)
    # Where it sits among its processor's sockets, as the user put them (the graph document's order); ties (rows
    # from before this field) fall back to the name.
    order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "name"], name="socket_name_unique_per_flow", deferrable=models.Deferrable.DEFERRED
            ),
            models.UniqueConstraint(fields=["id", "flow"], name="socket_id_flow_unique"),
        ]

    def __str__(self) -> str:
        return self.name
