#!/usr/bin/env bash
# web: wait for PostgreSQL, migrate, then serve HTTP and websockets with Daphne.
set -euo pipefail
cd /app

for attempt in $(seq 1 30); do
  if python manage.py migrate --noinput; then
    break
  fi
  if [ "$attempt" -eq 30 ]; then
    echo "web: PostgreSQL did not accept migrations after 30 attempts; check DATABASE_URL" >&2
    exit 1
  fi
  echo "web: database not ready (attempt $attempt), retrying in 2 s" >&2
  sleep 2
done

if [ -n "${ELASTICCODE_ADMIN_PASSWORD:-}" ]; then
  python manage.py ensure_admin
fi

exec daphne -b 0.0.0.0 -p 8000 --proxy-headers backend.asgi:application
