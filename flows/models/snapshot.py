from __future__ import annotations

from django.db import models


class FlowSnapshot(models.Model):
    """The graph document of a flow as one graph save left it (flows/selectors/graph.py's shape): the base a later
    save from that version is merged against (flows/services/merge.py). The last KEEP per flow are kept."""

    KEEP = 20

    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="snapshots")
    version = models.PositiveIntegerField()
    document = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "version"], name="flow_snapshot_unique_version")]

    def __str__(self) -> str:
        return f"{self.flow_id} v{self.version}"
