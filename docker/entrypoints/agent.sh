#!/usr/bin/env bash
# agent: one per node. Reconciles the processors placed on this node (git checkout, virtualenv, a worker per
# processor) and heartbeats its Node/Agent/Worker rows.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."   # the project root (/app in the image)

# The web container applies migrations; wait until the schema is current (this also waits for PostgreSQL).
max_attempts="${MIGRATION_WAIT_ATTEMPTS:-150}"
attempt=0
until output="$(python manage.py migrate --check --noinput 2>&1)"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge "$max_attempts" ]; then
    printf '%s\n' "$output" >&2
    echo "agent: database unreachable or migrations not applied after $attempt attempts" >&2
    exit 1
  fi
  if [ $((attempt % 15)) -eq 1 ]; then
    echo "agent: waiting for the database and its migrations (attempt $attempt): ${output##*$'\n'}" >&2
  fi
  sleep 2
done

exec python manage.py agent
