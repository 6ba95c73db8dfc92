"""Celery discovers the socket task here (app.autodiscover_tasks)."""

from flows.runtime.task import socket_task

__all__ = ["socket_task"]
