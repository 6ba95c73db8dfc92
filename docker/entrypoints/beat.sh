#!/usr/bin/env bash
# beat: Celery beat, the single scheduler: interval/cron sources, metric rollups, stale-agent detection and other
# housekeeping. Run exactly one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."   # the project root (/app in the image)

# The web container applies migrations; wait until the schema is current (this also waits for PostgreSQL).
max_attempts="${MIGRATION_WAIT_ATTEMPTS:-150}"
attempt=0
until output="$(python manage.py migrate --check --noinput 2>&1)"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge "$max_attempts" ]; then
    printf '%s\n' "$output" >&2
    echo "beat: database unreachable or migrations not applied after $attempt attempts" >&2
    exit 1
  fi
  if [ $((attempt % 15)) -eq 1 ]; then
    echo "beat: waiting for the database and its migrations (attempt $attempt): ${output##*$'\n'}" >&2
  fi
  sleep 2
done

# The schedule state file goes to the data volume: the code directory is read-only for the runtime user.
exec celery -A backend beat --loglevel "${LOG_LEVEL:-INFO}" \
  --schedule "${ELASTICCODE_DATA_DIR:-/data}/celerybeat-schedule"
