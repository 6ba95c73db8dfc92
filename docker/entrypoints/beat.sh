#!/usr/bin/env bash
# beat: housekeeping — interval/cron sources, lineage to PostgreSQL, due retries, stale-agent detection. Safe to run
# beside agents (they share the chores under Redis locks and once-only keys); one is enough.
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

exec python manage.py housekeeping
