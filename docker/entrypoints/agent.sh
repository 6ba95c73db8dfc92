#!/usr/bin/env bash
# agent: one per node; reconciles the processors placed on this node and runs their Celery workers.
set -euo pipefail
cd /app
exec python manage.py agent
