from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class RequestedStatus(models.TextChoices):
    RUNNING = "running", "running"
    STOPPED = "stopped", "stopped"
    PAUSED = "paused", "paused"


class Status(models.TextChoices):
    STOPPED = "stopped", "stopped"
    STARTING = "starting", "starting"
    RUNNING = "running", "running"
    PAUSED = "paused", "paused"
    ERROR = "error", "error"


class Processor(models.Model):
    """Python functions from a git repository at a pinned commit; each function it exposes is a socket."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="processors")
    name = models.CharField(max_length=200)
    git_url = models.CharField(max_length=1000)
    ref = models.CharField(max_length=255, default="main", help_text="Branch, tag or commit to deploy.")
    commit = models.CharField(max_length=40, blank=True, default="", help_text="Resolved SHA, pinned at deploy.")
    module = models.CharField(max_length=255)
    subdirectory = models.CharField(max_length=500, blank=True, default="")
    requirements = models.TextField(blank=True, default="", help_text="Extra pip requirements, one per line.")
    concurrency = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(64)])
    autoscale_max = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(64)],
        help_text="0: a fixed pool of `concurrency` slots. Above it: Celery's autoscaler grows the worker's slots up "
        "to this while messages wait and shrinks them back to `concurrency` when idle.",
    )
    replicas = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(64)],
        help_text="Workers on different nodes (when there are enough) consuming the same socket queues.",
    )
    replicas_max = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(64)],
        help_text="0: a fixed number of replicas. Above `replicas`: placement adds replicas, up to this and to the "
        "free CPU slots, while messages pile up in its queues, and takes them away again when idle.",
    )
    # Placement's autoscaler (backend/cluster/autoscale.py) keeps its current target here: `replicas` to
    # `replicas_max`; 0 until it has scaled. Not editable: people set the bounds.
    scaled_replicas = models.PositiveSmallIntegerField(default=0)
    node = models.CharField(
        max_length=200, blank=True, default="", help_text="Run only on this node (its name or host name); blank: any."
    )
    scheduler = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Run only on this scheduler's nodes, placed by its strategy (its name); blank: any node.",
    )
    requested_status = models.CharField(max_length=16, choices=RequestedStatus.choices, default=RequestedStatus.STOPPED)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STOPPED)
    status_message = models.TextField(blank=True, default="")
    # Set by the restart action; the agent restarts a worker started before it.
    restart_requested_at = models.DateTimeField(null=True, blank=True)
    retries = models.PositiveSmallIntegerField(default=3, validators=[MaxValueValidator(100)])
    time_limit = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(1), MaxValueValidator(86400)], help_text="Seconds per call."
    )
    rate_limit = models.CharField(
        max_length=32, blank=True, default="", help_text='Celery rate limit such as "100/s"; blank for none.'
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "name"], name="processor_name_unique_per_flow", deferrable=models.Deferrable.DEFERRED
            ),
            # Target of the composite foreign key that keeps a socket in its processor's flow (migration 0002).
            models.UniqueConstraint(fields=["id", "flow"], name="processor_id_flow_unique"),
            models.CheckConstraint(
                condition=models.Q(concurrency__gte=1, concurrency__lte=64), name="processor_concurrency_range"
            ),
            models.CheckConstraint(
                condition=models.Q(autoscale_max=0)
                | models.Q(autoscale_max__gt=models.F("concurrency"), autoscale_max__lte=64),
                name="processor_autoscale_above_concurrency",
                violation_error_message="autoscale_max is 0 (a fixed pool) or more than concurrency, at most 64.",
            ),
            models.CheckConstraint(
                condition=models.Q(replicas__gte=1, replicas__lte=64), name="processor_replicas_range"
            ),
            models.CheckConstraint(
                condition=models.Q(replicas_max=0)
                | models.Q(replicas_max__gt=models.F("replicas"), replicas_max__lte=64),
                name="processor_replicas_max_above_replicas",
                violation_error_message="replicas_max is 0 (a fixed number) or more than replicas, at most 64.",
            ),
            models.CheckConstraint(
                condition=models.Q(requested_status__in=RequestedStatus.values), name="processor_requested_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="processor_status_valid"),
        ]
        permissions = [
            ("run_task", "Send messages to the processor's sockets"),
            ("start_processor", "Start the processor"),
            ("stop_processor", "Stop the processor"),
            ("pause_processor", "Pause the processor"),
            ("resume_processor", "Resume the processor"),
            ("view_code", "View the processor's code"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def replicas_wanted(self) -> int:
        """How many replicas placement keeps: `replicas`, or the autoscaler's target within the bounds."""
        if not self.replicas_max:
            return self.replicas
        return min(max(self.replicas, self.scaled_replicas), self.replicas_max)


class ProcessorUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Processor, on_delete=models.CASCADE)


class ProcessorGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Processor, on_delete=models.CASCADE)
