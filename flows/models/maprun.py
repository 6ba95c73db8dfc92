from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class MapReduce(models.TextChoices):
    SUM = "sum", "sum: numbers added, word counts merged, lists joined"
    LIST = "list", "list: every parcel's result, in parcel order"


class MapRun(models.Model):
    """A source run (ElasticFlow's distributed map): parcels of a file or an iterable, each sent to one socket as a
    call whose answer is its receipt (flows/services/maps.py). `attempts[i]` is how many times parcel i was sent:
    each send has its own call id, so a retried parcel's old answer is never mistaken for its new one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="map_runs")
    socket = models.ForeignKey("flows.Socket", null=True, on_delete=models.SET_NULL, related_name="map_runs")
    socket_name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    parcels = models.JSONField(default=list)
    attempts = models.JSONField(default=list)
    reduce = models.CharField(max_length=8, choices=MapReduce.choices, default=MapReduce.SUM)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"map {self.socket_name} x{len(self.parcels)}"
