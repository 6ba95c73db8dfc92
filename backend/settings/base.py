"""Settings shared by every environment. Environment variables are read here and only here (README: Configuration)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from backend.settings.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(env_str("ELASTICCODE_DATA_DIR") or BASE_DIR / ".data")

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "channels",
    "backend.accounts",
    "backend.cluster",
    "backend.metrics",
    "flows",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "backend.middleware.SyncChain",  # last: the chain runs in one thread under ASGI (backend/middleware.py)
]

ROOT_URLCONF = "backend.urls"
ASGI_APPLICATION = "backend.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "backend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_url(url: str | None) -> dict[str, object]:
    if not url:
        raise ImproperlyConfigured(
            "DATABASE_URL is not set. Start the platform with `make run` (it starts an embedded PostgreSQL) "
            "or set DATABASE_URL=postgres://user:password@host:5432/name."
        )
    # CONN_MAX_AGE 0: Django closes each request's connection when the request ends, which with the pool means
    # giving it back (backend/db/postgresql/base.py says why a pool and not persistent connections).
    config = dict(dj_database_url.parse(url, conn_max_age=0))
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"DATABASE_URL must point at PostgreSQL, not {config.get('ENGINE')}.")
    config["ENGINE"] = "backend.db.postgresql"
    config["POOL"] = {
        "size": env_int("DATABASE_POOL_SIZE", 20),
        "idle_timeout": env_int("DATABASE_POOL_IDLE_TIMEOUT", 60),
        "ping_after": 2,
    }
    return config


DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")
DATABASES: dict[str, dict[str, object]] = {}  # filled by the environment module (dev/test/prod)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Error reports (the DEBUG page, error mails) mask passwords inside connection URLs as well as secret settings.
DEFAULT_EXCEPTION_REPORTER = "backend.errorreports.CredentialMaskingReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "backend.errorreports.CredentialMaskingFilter"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# django-guardian: no anonymous user row; anonymous requests are refused by the API before permissions are checked.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT: Path | None = Path(env_str("ELASTICCODE_STATIC_ROOT") or DATA_DIR / "collected-static")
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves static files from Daphne; in development straight from the apps (no collectstatic needed).
WHITENOISE_USE_FINDERS = DEBUG

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
# The designer's build (frontend/ -> static/app/): Vite's manifest names the hashed files the page links.
ELASTICCODE_FRONTEND_MANIFEST = BASE_DIR / "static" / "app" / "manifest.json"

# Bodies larger than this get 413 with a JSON error (backend/api/parsers.py); Django's own form limit matches it.
ELASTICCODE_MAX_BODY_BYTES = env_int("ELASTICCODE_MAX_BODY_BYTES", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = ELASTICCODE_MAX_BODY_BYTES

# Nodes and placement (backend/cluster/placement.py, DESIGN §10). An agent names its node ELASTICCODE_NODE_NAME (the
# host name by default) and reports ELASTICCODE_NODE_CPUS CPU slots (0: the machine's CPU count); a node that misses
# its heartbeat for ELASTICCODE_NODE_DOWN_AFTER seconds is down and its replicas are placed elsewhere. Strict
# slots-per-CPU is the production default; `make run` and the tests' single node allow oversubscription.
ELASTICCODE_NODE_CPUS = env_int("ELASTICCODE_NODE_CPUS", 0)
# The host name the node reports (what a processor's `node` pin may name, as the seed's `-h radiant`); empty: the
# machine's. Set it where the machine's name means nothing (a container's).
ELASTICCODE_NODE_HOSTNAME = env_str("ELASTICCODE_NODE_HOSTNAME")
ELASTICCODE_NODE_OVERSUBSCRIBE = env_bool("ELASTICCODE_NODE_OVERSUBSCRIBE", False)
ELASTICCODE_NODE_DOWN_AFTER = env_int("ELASTICCODE_NODE_DOWN_AFTER", 15)
# The strategy of processors without a scheduler: a name of backend.cluster.placement.STRATEGIES or a dotted path
# to a class with the same `choose` method.
ELASTICCODE_PLACEMENT_STRATEGY = env_str("ELASTICCODE_PLACEMENT_STRATEGY") or "least_loaded"

# Placement's autoscaler (backend/cluster/autoscale.py): one replica more while a processor's queues hold more than
# SCALE_DEPTH messages per replica for SCALE_AFTER seconds, one less after SCALE_IDLE seconds of empty queues.
ELASTICCODE_SCALE_DEPTH = env_int("ELASTICCODE_SCALE_DEPTH", 100)
ELASTICCODE_SCALE_AFTER = env_int("ELASTICCODE_SCALE_AFTER", 10)
ELASTICCODE_SCALE_IDLE = env_int("ELASTICCODE_SCALE_IDLE", 60)

# Git repositories processors may load code from: fnmatch patterns, plus the admin-editable list in the database.
ELASTICCODE_TRUSTED_REPOS = env_list("ELASTICCODE_TRUSTED_REPOS", [])
ELASTICCODE_ALLOW_FILE_REPOS = env_bool("ELASTICCODE_ALLOW_FILE_REPOS", False)
# Git checkouts and processor virtualenvs, cached per (repo, commit[, requirements]) and reused across restarts.
ELASTICCODE_CODE_DIR = Path(env_str("ELASTICCODE_CODE_DIR") or DATA_DIR / "code")
# Limits of the executor subprocess that runs user code (DESIGN §5).
ELASTICCODE_EXECUTOR_MEMORY_MB = env_int("ELASTICCODE_EXECUTOR_MEMORY_MB", 1024)
ELASTICCODE_EXECUTOR_CPU_SECONDS = env_int("ELASTICCODE_EXECUTOR_CPU_SECONDS", 300)
ELASTICCODE_EXECUTOR_OPEN_FILES = env_int("ELASTICCODE_EXECUTOR_OPEN_FILES", 256)
ELASTICCODE_CAPTURE_BYTES = env_int("ELASTICCODE_CAPTURE_BYTES", 64 * 1024)
# Confinement of user code (flows/runtime/sandbox.py, README "What user code can reach"). Run as root, the platform
# gives every processor's builds and executors an unprivileged uid of its own, BASE + a number below COUNT derived
# from the processor id (no passwd entry needed; the range must be free of real users and mapped in a user
# namespace).
ELASTICCODE_SANDBOX_UID_BASE = env_int("ELASTICCODE_SANDBOX_UID_BASE", 2_000_000_000)
ELASTICCODE_SANDBOX_UID_COUNT = env_int("ELASTICCODE_SANDBOX_UID_COUNT", 1_000_000_000)
if not (ELASTICCODE_SANDBOX_UID_BASE >= 1000 and ELASTICCODE_SANDBOX_UID_COUNT >= 1) or (
    ELASTICCODE_SANDBOX_UID_BASE + ELASTICCODE_SANDBOX_UID_COUNT > 2**32 - 2
):
    raise ImproperlyConfigured(
        "ELASTICCODE_SANDBOX_UID_BASE (at least 1000) plus ELASTICCODE_SANDBOX_UID_COUNT (at least 1) must stay "
        "below 4294967294, the largest uid."
    )
# The Python processor venvs are made from; empty: the platform's own, or a system python3 its users may run.
ELASTICCODE_SANDBOX_PYTHON = env_str("ELASTICCODE_SANDBOX_PYTHON") or ""
# More paths user code may read (beside the system's, its venv and its checkout), e.g. a shared model directory.
ELASTICCODE_SANDBOX_READ_PATHS = env_list("ELASTICCODE_SANDBOX_READ_PATHS", [])
# The only variables of the agent's environment a venv build sees: where packages come from and how to reach them.
ELASTICCODE_BUILD_ENV = env_list(
    "ELASTICCODE_BUILD_ENV",
    [
        "UV_INDEX",
        "UV_INDEX_URL",
        "UV_DEFAULT_INDEX",
        "UV_EXTRA_INDEX_URL",
        "UV_FIND_LINKS",
        "UV_INDEX_STRATEGY",
        "UV_NATIVE_TLS",
        "UV_INSECURE_HOST",
        "UV_OFFLINE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ],
)
# Deepest JSON the platform carries (request bodies, payloads, results of user code): backend/jsonlimits.py.
ELASTICCODE_MAX_JSON_DEPTH = env_int("ELASTICCODE_MAX_JSON_DEPTH", 100)
if not 10 <= ELASTICCODE_MAX_JSON_DEPTH <= 500:
    raise ImproperlyConfigured(
        f"ELASTICCODE_MAX_JSON_DEPTH must be between 10 and 500 levels (Python's JSON stops near 1,000), "
        f"not {ELASTICCODE_MAX_JSON_DEPTH}."
    )
# Largest message payload accepted, in bytes of JSON.
ELASTICCODE_MAX_MESSAGE_BYTES = env_int("ELASTICCODE_MAX_MESSAGE_BYTES", 1024 * 1024)
# Most socket calls one SDK composition (pipeline/parallel/funnel) may hold: its calls travel in the messages.
ELASTICCODE_MAX_WORKFLOW_CALLS = env_int("ELASTICCODE_MAX_WORKFLOW_CALLS", 1000)

# Calls from inside a function (`elasticcode.call`, flows/runtime/calls.py). A chain of calls deeper than
# CALL_MAX_DEPTH fails with CallDepthExceeded (runaway recursion, not a hang); a call waits at most CALL_TIMEOUT
# seconds for its answer; a slot waiting on its calls serves its worker's other messages, nested on its own stack,
# at most CALL_NESTING deep; answers are kept CALL_ANSWER_TTL seconds for a caller that is slow to read them.
ELASTICCODE_CALL_MAX_DEPTH = env_int("ELASTICCODE_CALL_MAX_DEPTH", 20)
ELASTICCODE_CALL_TIMEOUT = env_int("ELASTICCODE_CALL_TIMEOUT", 600)
ELASTICCODE_CALL_NESTING = env_int("ELASTICCODE_CALL_NESTING", 64)
ELASTICCODE_CALL_ANSWER_TTL = env_int("ELASTICCODE_CALL_ANSWER_TTL", 3600)
# A map run (`ec task map`, flows/services/maps.py) sends at most this many parcels.
ELASTICCODE_MAX_MAP_PARCELS = env_int("ELASTICCODE_MAX_MAP_PARCELS", 10000)
# A tap (flows/runtime/taps.py) shows each payload as JSON text cut at this many bytes.
ELASTICCODE_TAP_PREVIEW_BYTES = env_int("ELASTICCODE_TAP_PREVIEW_BYTES", 1024)
# A pure socket's results are kept this many seconds (its `memo_ttl` overrides it).
ELASTICCODE_MEMO_TTL = env_int("ELASTICCODE_MEMO_TTL", 3600)

# Token logins (POST /api/auth/token/) allowed per client address and, separately, per username: "N/s|min|hour|day".
ELASTICCODE_LOGIN_RATE = env_str("ELASTICCODE_LOGIN_RATE") or "10/min"
_login_count, _, _login_period = ELASTICCODE_LOGIN_RATE.partition("/")
# DRF reads only the period's first letter, so "10/month" would silently mean ten a minute: name the periods.
if not (
    _login_count.isdigit()
    and int(_login_count) > 0
    and _login_period in {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}
):
    raise ImproperlyConfigured(
        f"ELASTICCODE_LOGIN_RATE must be a count per period such as 10/min (periods: s, min, hour, day), "
        f"not {ELASTICCODE_LOGIN_RATE!r}."
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's token authentication, answering the same in one hand-written query (issue 14's call benchmark).
        "backend.accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["backend.api.parsers.LimitedJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "backend.api.renderers.ContentNegotiation",
    "DEFAULT_RENDERER_CLASSES": [
        "backend.api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "backend.api.pagination.Pagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "backend.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "backend.api.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # Throttles key clients by REMOTE_ADDR, never by an X-Forwarded-For a client can forge: behind the reverse
    # proxy, Daphne's --proxy-headers has already put the client's address there (docker/README.md).
    "NUM_PROXIES": 0,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ElasticCode API",
    "DESCRIPTION": "Flows, processors, sockets, plugs, queues, the cluster, calls and privileges.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files come from the installed sidecar package, not a CDN: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One document for every caller: views are introspected as by an in-memory superuser (backend/api/schema.py).
    "GET_MOCK_REQUEST": "backend.api.schema.build_mock_request",
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL or "redis://127.0.0.1:6379/0"]},
    }
}


def cache_from_url(url: str) -> dict[str, dict[str, object]]:
    """Django's cache (the login throttle's counts) in the platform's Redis; dev, test and prod pass their URL."""
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "elasticcode",  # apart from the broker's and the channel layer's keys in the same database
        }
    }


CACHES = cache_from_url(REDIS_URL or "redis://127.0.0.1:6379/0")

# The broker carries the socket queues: the platform's Redis unless CELERY_BROKER_URL names another broker
# (RabbitMQ: amqp://…). Redis (REDIS_URL) always holds the state that is not a queue (flows/runtime/broker.py).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
# Processor workers are Celery's own worker (flows/runtime/worker.py, docs/runtime.md): late acks, so a message leaves
# the broker only once its children are published; a worker takes at most concurrency * ELASTICCODE_PREFETCH
# messages ahead.
ELASTICCODE_PREFETCH = env_int("ELASTICCODE_PREFETCH", 8)
CELERY_TASK_ACKS_LATE = True
# A processor with autoscale_max grows its worker's slots while messages wait and gives them back after this many
# seconds without a new message (Celery's autoscaler keepalive; flows/runtime/pool.py).
ELASTICCODE_AUTOSCALE_IDLE = env_int("ELASTICCODE_AUTOSCALE_IDLE", 30)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = ELASTICCODE_PREFETCH
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker that restarts is waited for, never given up on: messages are only delayed.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# On Redis a taken message waits in kombu's `unacked` hash; a worker renews the ones it holds every
# ELASTICCODE_VISIBILITY_RENEW seconds (flows/runtime/visibility.py), so a call may run longer than the visibility
# timeout without being taken twice, and every worker's kombu gives back, every `unacked_restore_interval` seconds,
# what a dead worker held longer than the visibility timeout: a SIGKILLed worker's messages run again in ~12 s.
ELASTICCODE_VISIBILITY_TIMEOUT = env_int("ELASTICCODE_VISIBILITY_TIMEOUT", 10)
ELASTICCODE_VISIBILITY_RENEW = max(1.0, ELASTICCODE_VISIBILITY_TIMEOUT / 4)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": ELASTICCODE_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 2,
    "unacked_restore_throttle": 1,
    "socket_timeout": 30,
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 30,
}
# Lineage (Call rows) from worker buffers; off only to measure what it costs.
ELASTICCODE_LINEAGE = env_bool("ELASTICCODE_LINEAGE", True)
# Bytes of each call's input and output JSON kept with its lineage (the designer's trace shows them); 0: none.
ELASTICCODE_LINEAGE_PREVIEW_BYTES = env_int("ELASTICCODE_LINEAGE_PREVIEW_BYTES", 2048)
# Live metrics (backend/metrics/): workers count per socket and flush once a second; off only to measure the cost.
ELASTICCODE_METRICS = env_bool("ELASTICCODE_METRICS", True)
# Per-minute metrics history (backend/metrics/rollups.py) is kept this many days.
ELASTICCODE_METRICS_RETENTION_DAYS = env_int("ELASTICCODE_METRICS_RETENTION_DAYS", 30)
if ELASTICCODE_METRICS_RETENTION_DAYS < 1:
    raise ImproperlyConfigured(
        f"ELASTICCODE_METRICS_RETENTION_DAYS must be a whole number of days, at least 1, "
        f"not {ELASTICCODE_METRICS_RETENTION_DAYS}."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
