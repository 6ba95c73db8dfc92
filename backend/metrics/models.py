"""History of live metrics: one row per socket and minute, rolled up from Redis (backend/metrics/rollups.py)."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.utils import timezone

from backend.metrics import histogram


class SocketMinute(models.Model):
    """A socket's counts over one minute, summed over every worker (the fields of backend.metrics.events
    SocketCounts). Flow and processor are copied from the socket so that a flow's or a processor's series reads
    one index range."""

    minute = models.DateTimeField(help_text="Start of the minute (UTC).")
    # No single-column indexes: the composite indexes below lead with each of them (CASCADE deletes use those),
    # and every index is paid for on each rollup.
    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="+", db_index=False)
    processor = models.ForeignKey("flows.Processor", on_delete=models.CASCADE, related_name="+", db_index=False)
    socket = models.ForeignKey("flows.Socket", on_delete=models.CASCADE, related_name="+", db_index=False)
    msgs_in = models.BigIntegerField(default=0)
    msgs_out = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    bytes_in = models.BigIntegerField(default=0)
    bytes_out = models.BigIntegerField(default=0)
    time_ms = models.FloatField(default=0.0)
    time_max_ms = models.FloatField(default=0.0)
    held_ms = models.FloatField(default=0.0)
    hist = ArrayField(models.BigIntegerField(), size=histogram.BUCKETS, default=histogram.empty)
    depth_max = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-minute"]
        constraints = [models.UniqueConstraint(fields=["socket", "minute"], name="socketminute_socket_minute")]
        indexes = [
            models.Index(fields=["flow", "minute"], name="socketminute_flow_minute"),
            models.Index(fields=["processor", "minute"], name="socketminute_processor_minute"),
            # Retention deletes by age alone; rows arrive roughly in minute order, so a BRIN index is tiny and
            # nearly free to maintain.
            BrinIndex(fields=["minute"], name="socketminute_minute_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.socket_id}@{self.minute:%Y-%m-%d %H:%M}"


class RollupBatch(models.Model):
    """A Redis hash already added into SocketMinute, written in the same transaction as its rows.

    Rows are added to (a late worker flush into a rolled-up minute adds), so writing one hash twice would count it
    twice; this marker makes a rollup exactly once even when a rollup crashed after its commit or outlived its
    lock. Kept a little longer than the hashes can live in Redis (keys.METRIC_MINUTE_TTL)."""

    key = models.CharField(max_length=200, primary_key=True)
    rolled_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.key
