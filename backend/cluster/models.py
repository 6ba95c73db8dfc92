"""Where processors run: nodes (machines), their agents, the workers agents start, and placement."""

from __future__ import annotations

import uuid

from django.db import models


class Health(models.TextChoices):
    ONLINE = "online", "online"
    OFFLINE = "offline", "offline"  # its agent stopped cleanly
    DOWN = "down", "down"  # its agent missed the heartbeat window (ELASTICCODE_NODE_DOWN_AFTER)


class Node(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=255)
    cpus = models.PositiveSmallIntegerField(default=1)
    memory_mb = models.PositiveIntegerField(default=0)
    oversubscribe = models.BooleanField(
        default=False,
        help_text="Placement may give it more CPU slots than it has CPUs (set by its agent from "
        "ELASTICCODE_NODE_OVERSUBSCRIBE: on under `make run`, off in production).",
    )
    status = models.CharField(max_length=16, choices=Health.choices, default=Health.OFFLINE)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="agents")
    pid = models.PositiveIntegerField(null=True, blank=True)
    version = models.CharField(max_length=50, blank=True, default="")
    status = models.CharField(max_length=16, choices=Health.choices, default=Health.OFFLINE)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Worker(models.Model):
    """A Celery worker an agent runs for one processor."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    processor = models.ForeignKey("flows.Processor", on_delete=models.CASCADE, related_name="workers")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="workers")
    concurrency = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, default="starting")
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Deployment(models.Model):
    """One replica of a processor placed on a node with `cpus` CPU slots (its concurrency): the agent of that node
    runs a Celery worker for it and writes its status here. A processor has `replicas` of them, on different nodes
    when there are enough. A live move adds the new one first and sets the old one's `replaced_by`: the old worker
    stops warmly once the new one runs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    processor = models.ForeignKey("flows.Processor", on_delete=models.CASCADE, related_name="deployments")
    replica = models.PositiveSmallIntegerField(default=0, help_text="0, 1, …: which of the processor's replicas.")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="deployments")
    cpus = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, default="starting")
    status_message = models.TextField(blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="", help_text="Its Celery worker's hostname.")
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replacing",
        help_text="Being moved: stops once this deployment runs.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["processor", "replica", "created_at"]

    def __str__(self) -> str:
        return f"{self.processor_id}#{self.replica}@{self.node_id}"


class Scheduler(models.Model):
    """A named group of nodes that placement may choose from (the seed's `scheduler -n sched1 add --node`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    nodes = models.ManyToManyField(Node, blank=True, related_name="schedulers")
    strategy = models.CharField(
        max_length=50,
        default="least_loaded",
        help_text="How placement picks among its nodes: least_loaded (most free CPU slots first) or packed (fill "
        "the busiest node that fits first).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ScaleEvent(models.Model):
    """One decision of placement's autoscaler (backend/cluster/autoscale.py): a replica added or taken away, or one
    it wanted to add and could not, with the reason. Shown in the dashboard; kept ELASTICCODE_METRICS_RETENTION_DAYS."""

    id = models.BigAutoField(primary_key=True)
    processor = models.ForeignKey("flows.Processor", on_delete=models.CASCADE, related_name="scale_events")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=16)  # grow, shrink, blocked
    replicas_from = models.PositiveSmallIntegerField()
    replicas_to = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.processor_id} {self.action} {self.replicas_from}→{self.replicas_to}"
