"""Where processors run: nodes (machines), their agents, the workers agents start, and placement."""

from __future__ import annotations

import uuid

from django.db import models


class Health(models.TextChoices):
    ONLINE = "online", "online"
    OFFLINE = "offline", "offline"


class Node(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=255)
    cpus = models.PositiveSmallIntegerField(default=1)
    memory_mb = models.PositiveIntegerField(default=0)
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
    """Placement: processor P runs on node N with this many CPUs. One per processor for now."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    processor = models.OneToOneField("flows.Processor", on_delete=models.CASCADE, related_name="deployment")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="deployments")
    cpus = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.processor_id}@{self.node_id}"


class Scheduler(models.Model):
    """A named group of nodes that placement may choose from (the seed's `scheduler -n sched1 add --node`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    nodes = models.ManyToManyField(Node, blank=True, related_name="schedulers")
    strategy = models.CharField(max_length=50, default="least_loaded")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
