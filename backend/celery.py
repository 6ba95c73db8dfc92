"""The Celery application. JSON only: a message is data, never code (no pickle)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.dev")

app = Celery("elasticcode")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
