"""Tests: `make test` starts throw-away embedded PostgreSQL and Redis and exports their URLs (backend/devstack.py)."""

from __future__ import annotations

import secrets

from backend.settings.base import *  # noqa: F403
from backend.settings.base import DATABASE_URL, REDIS_URL, cache_from_url, database_from_url
from backend.settings.env import env_bool, env_str

DEBUG = False
SECRET_KEY = env_str("SECRET_KEY") or secrets.token_urlsafe(50)
ELASTICCODE_ALLOW_FILE_REPOS = True
# The tests' agents are `make run`'s node; tests/cluster/ turns strict CPU slots on where it checks them.
ELASTICCODE_NODE_OVERSUBSCRIBE = env_bool("ELASTICCODE_NODE_OVERSUBSCRIBE", True)
DATABASES = {"default": database_from_url(DATABASE_URL)}
_redis = REDIS_URL or "redis://127.0.0.1:6379/15"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [_redis]}}}
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or _redis
CACHES = cache_from_url(_redis)
# Tests log in far more often than people; tests/accounts/test_token.py sets the real rate where it checks it.
ELASTICCODE_LOGIN_RATE = "10000/min"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed: tests create many users
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
