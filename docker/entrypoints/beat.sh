#!/usr/bin/env bash
# beat: interval/cron sources, metric rollups and housekeeping.
set -euo pipefail
cd /app
exec celery -A backend beat --loglevel "${LOG_LEVEL:-INFO}" --schedule /data/celerybeat-schedule
