"""Local development: `make run` exports DATABASE_URL and REDIS_URL of the embedded servers it started.

A management command run by hand while `make run` is up finds the same servers through .data/run/stack.json.
"""

from __future__ import annotations

import json
import secrets

from backend.settings.base import *  # noqa: F403
from backend.settings.base import DATA_DIR, DATABASE_URL, REDIS_URL, cache_from_url, database_from_url
from backend.settings.env import env_bool, env_str

DEBUG = env_bool("DEBUG", True)
ELASTICCODE_ALLOW_FILE_REPOS = env_bool("ELASTICCODE_ALLOW_FILE_REPOS", True)
# A laptop runs more processors than it has cores: the demo and a newcomer's first flows must start.
ELASTICCODE_NODE_OVERSUBSCRIBE = env_bool("ELASTICCODE_NODE_OVERSUBSCRIBE", True)


def _running_stack() -> dict[str, str]:
    path = DATA_DIR / "run" / "stack.json"
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _dev_secret_key() -> str:
    # Generated once per checkout and kept out of git under .data/, so no key is ever committed.
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


_stack = _running_stack()
DATABASE_URL = DATABASE_URL or _stack.get("database_url")
REDIS_URL = REDIS_URL or _stack.get("redis_url") or "redis://127.0.0.1:6379/0"
DATABASES = {"default": database_from_url(DATABASE_URL)}
SECRET_KEY = env_str("SECRET_KEY") or _dev_secret_key()
CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
# The broker `make run` was started with (CELERY_BROKER_URL then), so `make celery` and `make flower` reach the
# same one without being told again (found by a newcomer: on RabbitMQ they looked at Redis and saw no worker).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or _stack.get("broker_url") or REDIS_URL
CACHES = cache_from_url(REDIS_URL)
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT = None  # WhiteNoise serves from the finders in development; collectstatic is for production images
