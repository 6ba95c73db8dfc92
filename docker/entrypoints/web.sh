#!/usr/bin/env bash
# web: wait for PostgreSQL, apply migrations, optionally set the admin password, then serve HTTP and websockets
# (REST, admin, SPA, static files through WhiteNoise, Channels) with Daphne on port 8000.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."   # the project root (/app in the image)

# Wait until the database accepts connections. Only "cannot connect" (exit 75) is retried: a configuration error
# such as a missing SECRET_KEY fails at once with Django's message instead of looping.
max_attempts="${DB_WAIT_ATTEMPTS:-60}"
attempt=0
while :; do
  attempt=$((attempt + 1))
  status=0
  python - <<'PY' || status=$?
import sys

import django

django.setup()
from django.db import connection
from django.db.utils import OperationalError

try:
    connection.ensure_connection()
except OperationalError as exc:
    print(f"web: database not reachable yet: {str(exc).strip()}", file=sys.stderr)
    sys.exit(75)
PY
  if [ "$status" -eq 0 ]; then
    break
  fi
  if [ "$status" -ne 75 ]; then
    echo "web: cannot start (exit $status), see the error above" >&2
    exit "$status"
  fi
  if [ "$attempt" -ge "$max_attempts" ]; then
    echo "web: PostgreSQL still unreachable after $attempt attempts; check DATABASE_URL" >&2
    exit 1
  fi
  sleep 2
done

python manage.py migrate --noinput

# Optional: create the superuser "admin" or reset its password. Its output names the password, so it is not
# copied into the container log.
if [ -n "${ELASTICCODE_ADMIN_PASSWORD:-}" ]; then
  python manage.py ensure_admin >/dev/null
  echo "web: superuser 'admin' has the password from ELASTICCODE_ADMIN_PASSWORD"
fi

exec daphne -b 0.0.0.0 -p 8000 --proxy-headers backend.asgi:application
