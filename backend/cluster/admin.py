from django.contrib import admin

from backend.cluster.models import Agent, Deployment, Node, Scheduler, Worker


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ["name", "hostname", "cpus", "status", "last_heartbeat"]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "node", "pid", "status", "last_heartbeat"]


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["name", "processor", "agent", "concurrency", "status", "last_heartbeat"]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["processor", "node", "cpus", "created_at"]


@admin.register(Scheduler)
class SchedulerAdmin(admin.ModelAdmin):
    list_display = ["name", "strategy"]
    filter_horizontal = ["nodes"]
