from __future__ import annotations

import uuid

from django.db import models


class CallStatus(models.TextChoices):
    RECEIVED = "received", "received"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    RETRYING = "retrying", "retrying"
    DEAD = "dead", "dead-lettered"
    # A pure socket's result taken from its memo (flows/runtime/memo.py): the function did not run.
    CACHED = "cached", "cached"
    # A call made from inside a function (elasticcode.call) that failed for good: its error was raised in its caller
    # as CallFailed, and the caller decides (catch it, or fail with the chain). Neither dead-lettered nor taken by
    # an error plug: found by a newcomer, who read "failed (handled)" on the divide whose error failed ratio.
    RAISED = "raised", "raised in its caller"


class Call(models.Model):
    """One execution of a socket for one message. Written in batches from worker buffers, never per message."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trace_id = models.UUIDField(db_index=True)
    parent_id = models.UUIDField(null=True, blank=True, db_index=True)
    flow = models.ForeignKey("flows.Flow", null=True, on_delete=models.SET_NULL, related_name="calls")
    # No index of its own: call_socket_recent (socket, -started_at) serves every lookup by socket, and each index
    # is paid for on every lineage write.
    socket = models.ForeignKey(
        "flows.Socket", null=True, on_delete=models.SET_NULL, related_name="calls", db_index=False
    )
    socket_name = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.RECEIVED)
    received_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    stdout = models.TextField(blank=True, default="")
    stderr = models.TextField(blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="")
    # What the call was given and returned, as JSON text cut at ELASTICCODE_LINEAGE_PREVIEW_BYTES (a cut preview
    # ends with "…"): the data of each step, as a debugger shows it. Kept as long as the call is.
    input = models.TextField(blank=True, default="")
    # The extra positional args after the payload (a call's `call("divide", 5, 4)` gives input 5 and args [4]), as a
    # JSON list cut the same way; "" when there were none, which is most messages.
    args = models.TextField(blank=True, default="")
    output = models.TextField(blank=True, default="")
    attempt = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["socket", "-started_at"], name="call_socket_recent")]

    def __str__(self) -> str:
        return f"{self.socket_name or self.socket_id}:{self.id}"
