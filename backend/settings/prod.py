"""Production: every secret and server address comes from the environment; nothing is defaulted silently."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from backend.settings.base import *  # noqa: F403
from backend.settings.base import cache_from_url, database_from_url
from backend.settings.env import env_bool, env_int, env_list, env_required, env_str

DEBUG = False
SECRET_KEY = env_required("SECRET_KEY")
if len(SECRET_KEY) < 40:
    raise ImproperlyConfigured("SECRET_KEY must be at least 40 characters long in production.")
DATABASES = {"default": database_from_url(env_required("DATABASE_URL"))}
REDIS_URL = env_required("REDIS_URL")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the host names the platform is served on.")
CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL
CACHES = cache_from_url(REDIS_URL)
ELASTICCODE_ALLOW_FILE_REPOS = env_bool("ELASTICCODE_ALLOW_FILE_REPOS", False)

SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
