"""The Celery application. JSON only: a message is data, never code (no pickle)."""

from __future__ import annotations

import os

from celery import Celery

from flows.runtime import redis_transport

# redis:// brokers use kombu's Redis transport with a take that cannot lose a message to a killed worker
# (flows/runtime/redis_transport.py): before any connection is made (the flows app does it too, for processes that
# never import this module).
redis_transport.install()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.dev")

app = Celery("elasticcode")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
