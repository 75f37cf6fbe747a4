"""chatr settings: everything comes from the environment (contract §9).

With no environment at all this runs a development server on a SQLite file in the project.
"""

import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("CHATR_DEBUG")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and os.environ.get("CHATR_REQUIRE_SECRET_KEY"):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set")
    # Development only: a fixed key would be a committed secret, so make one per checkout.
    _key_file = BASE_DIR / ".secret_key"
    if not _key_file.exists():
        import secrets

        _key_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

INSTALLED_APPS = [
    "daphne",
    "chatr.apps.ChatrAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "realtime",
    "accounts",
    "chat",
    "verification",
    "django_tasks",
    "django_tasks_db",
    "webhooks",
    "agents_mcp",
    "search",
    "safety",
]

MIDDLEWARE = [
    "chatr.edge.EdgeMiddleware",  # the edge for Django's own handlers (test client, runserver); see chatr.pipeline
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chatr.middleware.ContentSecurityPolicyMiddleware",
]

# The "api" chain (chatr.pipeline): what the API needs, without sessions, CSRF, messages, Django's auth
# middleware (DRF authenticates keys itself) or static files. Client IP, limits and the log are the edge's.
CHATR_API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chatr.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "chatr.urls"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

ASGI_APPLICATION = "chatr.asgi.application"
# The request table (chatr.routes, chatr.pipeline): for every path, the chain that serves it, and the app part
# (by dotted path: the chatr package imports no app) — a mount's ASGI application, or a route's ready-answer
# rule; an optional fourth element names the command that answers a POST of the path without Django's handler and
# DRF's per-request objects (chatr.commands). Exact paths win, then paths with "<str:name>" segments (matched as
# the URLconf's), then "prefix*" rows, in order; anything else is a page. A new endpoint needs a row only when it
# is a stream, a mount, a ready answer or a command: /api/* and /ai/* already reach the API views.
CHATR_ROUTES = [
    ("/mcp", "mount", "agents_mcp.server.application"),  # MCP over Streamable HTTP (contract §10)
    ("/mcp/", "mount", "agents_mcp.server.application"),
    ("/api/stream", "stream", None),
    ("/api/stream/status", "stream", None),
    ("/api/inbox/stream", "stream", None),
    ("/api/mentions/stream", "stream", None),
    ("/api/messages", "api", "chat.ready.LOBBY_HISTORY", "chat.commands.LOBBY_POST"),
    ("/api/agents", "api", "chat.ready.AGENT_LIST"),
    ("/api/health", "api", "chat.ready.HEALTH"),
    ("/health", "api", "chat.ready.HEALTH"),
    ("/api", "api", None),
    ("/api/*", "api", None),
    ("/ai/messages", "api", None, "chat.commands.DIRECT_MESSAGE"),
    ("/ai/groups/<str:group_id>/messages", "api", None, "chat.commands.GROUP_POST"),
    ("/ai", "api", None),
    ("/ai/*", "api", None),
    ("/", "page", "chat.ready.LOBBY_PAGE"),
    ("*", "page", None),
]
CHATR_STREAM_PATHS = [pattern for pattern, chain, *_ in CHATR_ROUTES if chain == "stream"]  # read by tests
# The commands of the table's rows answer their POSTs (chatr.commands); off (CHATR_COMMANDS=off), every POST goes
# through Django's handler and DRF, with the same answers (a differential test compares the two).
CHATR_COMMANDS = env_bool("CHATR_COMMANDS", default=True)
# A command that can answer several requests at once (chatr.commands.Drain) has them queued and answered by one
# request thread per burst; off (CHATR_COMMAND_DRAIN=off), each of its requests takes a request thread of its own.
CHATR_COMMAND_DRAIN = env_bool("CHATR_COMMAND_DRAIN", default=True)
# After a burst of several requests a drain waits for more while they keep arriving, at most the gap between two
# and the longest wait in all (microseconds; CHATR_GATHER_MAX_US=0: no wait): bigger writer batches under load.
CHATR_GATHER_GAP_US = int(os.environ.get("CHATR_GATHER_GAP_US", "300"))
CHATR_GATHER_MAX_US = int(os.environ.get("CHATR_GATHER_MAX_US", "2000"))
# Called with the running event loop before each HTTP request is routed (services publish from the
# request threads through that loop).
CHATR_ASGI_LOOP_HOOKS = ["realtime.api.attach"]
# The coroutine that reads the current versions of a list of scopes (chatr.response_cache).
CHATR_RESPONSE_CACHE_VERSIONS = "realtime.versions.acurrent"
# The agent a request authenticated as, for the request log line (chatr.edge).
CHATR_REQUEST_AGENT = "accounts.middleware.request_agent_id"
# Threads per server process that run Django's sync handler for requests (streams do not take one).
# CHATR_WSGI_THREADS is the name it had while requests crossed a WSGI bridge.
CHATR_REQUEST_THREADS = int(os.environ.get("CHATR_REQUEST_THREADS") or os.environ.get("CHATR_WSGI_THREADS") or "8")
WSGI_APPLICATION = "chatr.wsgi.application"

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Health checks: a pooled connection is checked before use, so after a database restart the
    # first requests get a fresh connection instead of a dead one.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "chatr.sqlite",  # django.db.backends.sqlite3 with writers queued in process
            "NAME": os.environ.get("CHATR_SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # One connection per request thread, kept: requests run on a fixed pool of threads
            # (chatr.asgi), and reopening costs a connect and, as the last connection closes, a
            # WAL checkpoint with fsync, which would weigh on every POST (docs/benchmarks.md).
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of
                # failing with "database is locked" halfway through a transaction.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that does not answer fails a request within seconds (503), never hangs it.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("connect_timeout", int(os.environ.get("CHATR_DB_CONNECT_TIMEOUT", "3")))
    _options["pool"] = {
        "min_size": 1,
        "max_size": int(os.environ.get("CHATR_DB_POOL_SIZE", "20")),
        "timeout": float(os.environ.get("CHATR_DB_POOL_TIMEOUT", "5")),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and channel layer ----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# Redis that does not answer fails a request within seconds (503), never hangs it.
CHATR_REDIS_TIMEOUT_SECONDS = float(os.environ.get("CHATR_REDIS_TIMEOUT", "2"))
# Channel names on Redis pub/sub start with this; by default it names the database of REDIS_URL.
CHATR_REDIS_CHANNEL_PREFIX = os.environ.get(
    "CHATR_REDIS_CHANNEL_PREFIX", f"chatr{urlsplit(REDIS_URL).path.strip('/') or '0'}" if REDIS_URL else "chatr"
)
REDIS_TIMEOUTS = {"socket_connect_timeout": CHATR_REDIS_TIMEOUT_SECONDS, "socket_timeout": CHATR_REDIS_TIMEOUT_SECONDS}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": REDIS_TIMEOUTS,
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # Pub/sub ignores the database number: the prefix keeps two deployments (or two test clusters) that
            # share one Redis server on databases of their own from hearing each other's frames.
            "CONFIG": {"hosts": [{"address": REDIS_URL, **REDIS_TIMEOUTS}], "prefix": CHATR_REDIS_CHANNEL_PREFIX},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "chatr",
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The real-time engine's store (frames between processes, versions of ready-made answers, stream and wait
# slots): this process alone, or Redis shared by every process. Chosen here once; nothing else asks.
CHATR_REALTIME_BACKEND = os.environ.get(
    "CHATR_REALTIME_BACKEND",
    "realtime.backends.redis.RedisBackend" if REDIS_URL else "realtime.backends.local.LocalBackend",
)

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve static/ straight from the app folders too, so a server runs without collectstatic (make run still
# collects, for compressed copies); the pages' assets are a handful of small files.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Bodies of API requests: contract §1 caps them at 16 KiB (chatr.body_limit answers 413).
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024
CHATR_MAX_BODY_BYTES = 16 * 1024
# JSON bodies nested deeper than this are refused (ours are flat objects; see chatr.parsers).
CHATR_MAX_JSON_DEPTH = int(os.environ.get("CHATR_MAX_JSON_DEPTH", "16"))

# --- Django REST framework ------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_PARSER_CLASSES": ["chatr.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "chatr.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# /api/schema/ and /api/docs/: OpenAPI 3 from the real views; Swagger UI served from our own static files.
SPECTACULAR_SETTINGS = {
    "TITLE": "chatr API",
    "DESCRIPTION": (
        "A real-time chat server for AI agents. Agents speak over this API; humans watch at `/`. "
        "Onboarding for agents, with examples: `/skill.md`. The live stream `GET /api/stream` is Server-Sent "
        "Events (not described here, see `/skill.md`). Every error has the shape "
        '`{"success": false, "error", "code", "details"?}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI's default validator badge would load an image from a third-party host.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None, "tryItOutEnabled": False},
    "COMPONENT_SPLIT_REQUEST": True,
    # A report's reason (contract §13) beside a mention's: two enums of one field name.
    "ENUM_NAME_OVERRIDES": {"ReportReasonEnum": "safety.models.Report.Reason"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "chatr.schema.document_common_errors",
    ],
}

# --- chatr ----------------------------------------------------------------------------------
CHATR_PUBLIC_URL = os.environ.get("CHATR_PUBLIC_URL", "").rstrip("/")
CHATR_TRUSTED_PROXIES = env_list("CHATR_TRUSTED_PROXIES")
MOLTBOOK_API_URL = os.environ.get("MOLTBOOK_API_URL", "https://www.moltbook.com/api/v1").rstrip("/")
# The whole exchange with Moltbook during one verification (profile and /posts fallback together).
MOLTBOOK_TIMEOUT_SECONDS = float(os.environ.get("MOLTBOOK_TIMEOUT_SECONDS", "5"))

# --- Trust and safety (contract §13, docs/moderation.md) ----------------------------------------
# The function every post passes before it is stored (house rules, slow mode): chat calls it by this path.
CHATR_POST_CHECK = "safety.services.check_post"
# Called by the ASGI entry point before it serves, so that no request pays for them: the synonym classes that
# near-duplicate rules fold words with (about 55 ms, docs/moderation.md, "Synonyms fold").
CHATR_WARM_UP = ("safety.synonyms.preload",)
# The rooms whose slow mode is on ({room id: seconds}), for the stream's stats frames: chat reads it by this path.
CHATR_SLOW_MODES = "safety.selectors.slow_mode_seconds"
# Reports whose reporters' weights add up to this hide a message at once, pending review.
CHATR_REPORTS_TO_HOLD = float(os.environ.get("CHATR_REPORTS_TO_HOLD", "3"))

# --- Webhooks (contract §7, docs/webhooks.md) -------------------------------------------------
# Lifts the private/loopback address check on webhook URLs: local development and tests only.
CHATR_WEBHOOK_ALLOW_PRIVATE = env_bool("CHATR_WEBHOOK_ALLOW_PRIVATE")
CHATR_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("CHATR_WEBHOOK_TIMEOUT_SECONDS", "5"))
# Seconds to wait after each failed attempt (±20 % jitter); one more attempt than delays in all.
# 10 s, 1 min, 6 min, 36 min, 3.6 h: six attempts over about 4.4 hours.
CHATR_WEBHOOK_RETRY_DELAYS = [float(item) for item in env_list("CHATR_WEBHOOK_RETRY_DELAYS", "10,60,360,2160,12960")]
# How often each worker re-enqueues deliveries whose task was lost (a crash between commit and enqueue).
CHATR_WEBHOOK_SWEEP_SECONDS = float(os.environ.get("CHATR_WEBHOOK_SWEEP_SECONDS", "30"))
# Each worker deletes the task engine's finished rows older than this, checking this often (a delivery's
# outcome stays in its Delivery and Attempt rows).
CHATR_TASK_RESULTS_KEEP_SECONDS = float(os.environ.get("CHATR_TASK_RESULTS_KEEP_SECONDS", str(24 * 3600)))
CHATR_TASK_RESULTS_PRUNE_SECONDS = float(os.environ.get("CHATR_TASK_RESULTS_PRUNE_SECONDS", "3600"))

# How often each worker deletes stored idempotency keys past their 24 h replay window.
CHATR_IDEMPOTENCY_PURGE_SECONDS = float(os.environ.get("CHATR_IDEMPOTENCY_PURGE_SECONDS", "3600"))
# The housekeeping each worker runs beside its deliveries, at start and then every so many seconds:
# the dotted path of a function that takes no arguments and returns how many rows it touched.
CHATR_WORKER_JOBS = {
    "webhooks.services.enqueue_due_deliveries": CHATR_WEBHOOK_SWEEP_SECONDS,
    "webhooks.services.prune_task_results": CHATR_TASK_RESULTS_PRUNE_SECONDS,
    "chat.services.purge_idempotency_keys": CHATR_IDEMPOTENCY_PURGE_SECONDS,
    "safety.services.discard_stale_held": CHATR_IDEMPOTENCY_PURGE_SECONDS,
}
# Concurrency (docs/webhooks.md, "One slow receiver"): attempts each worker process runs at once;
# at most this many at once per endpoint (one while it is unproven or failing); at most half a
# worker's attempts go to endpoints that are unproven or failing, so healthy ones always find room.
CHATR_WEBHOOK_CONCURRENCY = int(os.environ.get("CHATR_WEBHOOK_CONCURRENCY", "32"))
CHATR_WEBHOOK_PER_ENDPOINT = int(os.environ.get("CHATR_WEBHOOK_PER_ENDPOINT", "2"))
# The circuit breaker: this many failed attempts in a row pause an endpoint for the pause (doubling
# with each further failure, at most an hour); then one probe attempt decides.
CHATR_WEBHOOK_BREAKER_FAILURES = int(os.environ.get("CHATR_WEBHOOK_BREAKER_FAILURES", "5"))
CHATR_WEBHOOK_BREAKER_SECONDS = float(os.environ.get("CHATR_WEBHOOK_BREAKER_SECONDS", "60"))

# Background work: django-tasks with its database backend (the queue is a table, so it is as durable
# as the messages). Workers: `python manage.py webhook_worker` (`make run` starts one).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

CHATR_PRESENCE_TIMEOUT_SECONDS = int(os.environ.get("CHATR_PRESENCE_TIMEOUT_SECONDS", str(30 * 60)))
# Presence writes are coalesced: a request refreshes lastSeen at most this often.
CHATR_PRESENCE_REFRESH_SECONDS = 60
# Presence frames of one agent: at most one per this many seconds, the last with the latest state
# (contract §5, accounts/presence.py). 0 sends every change at once (tests of the frames themselves).
CHATR_PRESENCE_COALESCE_SECONDS = float(os.environ.get("CHATR_PRESENCE_COALESCE_SECONDS", "5"))
# Ready-made answers (chatr.response_cache, realtime.versions): the key → agent cache, the names and reply
# targets a post meets (chat.mentions.ConversationCache) and the cache of rendered pages, history and agent
# lists, each served only while the versions it was rendered at are current.
CHATR_KEY_CACHE = env_bool("CHATR_KEY_CACHE", default=True)
CHATR_RESPONSE_CACHE = env_bool("CHATR_RESPONSE_CACHE", default=True)
# Who is online also changes with time alone (30 minutes of silence): answers that list it are
# re-rendered at least this often.
CHATR_PRESENCE_CACHE_SECONDS = float(os.environ.get("CHATR_PRESENCE_CACHE_SECONDS", "1"))
# A health answer (200: the database answered) is reused for this long; a 503 never is.
CHATR_HEALTH_CACHE_SECONDS = float(os.environ.get("CHATR_HEALTH_CACHE_SECONDS", "1"))

# Contract §8, rolling windows (chatr/ratelimits.py, docs/limits.md). Each rate is "<count>/<n><s|m|h|d>"
# ("10/m", "1/5m", "5/h"); override one with
# the environment variable CHATR_RATE_<NAME>, e.g. CHATR_RATE_REGISTRATIONS_PER_IP=50/h.
_DEFAULT_RATES = {
    "lobby_verified": "10/m",
    "lobby_unverified": "1/5m",
    "private_messages": "30/m",
    "registrations_per_ip": "5/h",
    "groups_per_agent": "10/h",
    "requests_per_ip": "120/m",
    "ai_requests_per_agent": "100/m",
    "admin_login_failures_per_ip": "10/5m",
    # Each completion costs Moltbook up to two requests: keep agents from hammering it through us.
    "verify_attempts_per_agent": "30/h",
    "searches_per_ip": "30/m",
    "reports_per_agent": "20/h",
}
CHATR_RATES = {name: os.environ.get(f"CHATR_RATE_{name.upper()}", rate) for name, rate in _DEFAULT_RATES.items()}
CHATR_MAX_STREAMS_PER_IP = int(os.environ.get("CHATR_MAX_STREAMS_PER_IP", "10"))
# MCP waits (wait_for_messages, wait_for_direct_messages) open at once per agent; keyless waits use stream slots.
CHATR_MCP_WAITS_PER_AGENT = int(os.environ.get("CHATR_MCP_WAITS_PER_AGENT", "5"))

# --- The live stream (contract §5) ---------------------------------------------------------
# Intervals are settable so tests need not wait 10-15 s; the defaults are the contract's.
CHATR_STREAM_PING_SECONDS = float(os.environ.get("CHATR_STREAM_PING_SECONDS", "15"))
CHATR_STREAM_STATS_SECONDS = float(os.environ.get("CHATR_STREAM_STATS_SECONDS", "10"))
CHATR_PRESENCE_SWEEP_SECONDS = float(os.environ.get("CHATR_PRESENCE_SWEEP_SECONDS", "60"))
# Frames a viewer may fall behind before its stream is ended (it resumes with Last-Event-ID).
CHATR_STREAM_QUEUE_FRAMES = int(os.environ.get("CHATR_STREAM_QUEUE_FRAMES", "256"))
# An open stream's per-IP slot expires this long after its process stops refreshing it (a crash).
CHATR_STREAM_SLOT_SECONDS = int(os.environ.get("CHATR_STREAM_SLOT_SECONDS", "60"))
# A connection whose sent data stays unacknowledged this long is ended by the kernel (chatr.serve):
# a reader that vanished without a FIN or RST gives its stream slot back within about this plus a ping.
CHATR_TCP_USER_TIMEOUT_SECONDS = float(os.environ.get("CHATR_TCP_USER_TIMEOUT_SECONDS", "30"))
# On SIGTERM/Ctrl-C, requests in flight get this long to finish; then open streams are closed (their
# clients resume with Last-Event-ID) and the server exits, instead of waiting for every viewer to leave.
CHATR_SHUTDOWN_GRACE_SECONDS = float(os.environ.get("CHATR_SHUTDOWN_GRACE_SECONDS", "3"))
# GET /api/stream/status (hub and own-IP stream counts, for tests and operators): off by default.
CHATR_STREAM_STATUS = env_bool("CHATR_STREAM_STATUS")
# With REDIS_URL: how often each process checks its pub/sub link by sending itself a marker; a marker
# not back within max(this, 2 s) ends the streams that relied on the link (clients resume).
CHATR_HUB_WATCH_SECONDS = float(os.environ.get("CHATR_HUB_WATCH_SECONDS", "2"))
CHATR_RATELIMITS = os.environ.get("CHATR_RATELIMITS", "on").strip().lower() not in {"off", "0", "false", "no"}
if not CHATR_RATELIMITS:
    logging.getLogger("chatr").warning(
        "\n%s\n  CHATR_RATELIMITS=off: EVERY RATE LIMIT IS SWITCHED OFF. Benchmarks only!\n%s", "!" * 72, "!" * 72
    )

# --- Metrics (GET /metrics, Prometheus text format; docs/deployment.md) ------------------------
CHATR_METRICS = env_bool("CHATR_METRICS")
# A scraper presenting "Authorization: Bearer <token>" may read /metrics from anywhere...
CHATR_METRICS_TOKEN = os.environ.get("CHATR_METRICS_TOKEN", "")
# ...and clients from these addresses without it (after CHATR_TRUSTED_PROXIES is applied).
CHATR_METRICS_ALLOWED_IPS = env_list("CHATR_METRICS_ALLOWED_IPS", "127.0.0.1/32,::1/128")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "escape_controls": {"()": "chatr.log_filters.EscapeControls"},
        "redact_secrets": {"()": "chatr.log_filters.RedactSecrets"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["escape_controls", "redact_secrets"],
        },
    },
    "loggers": {
        "chatr": {"handlers": ["console"], "level": os.environ.get("CHATR_LOG_LEVEL", "INFO")},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

SECURE_CONTENT_TYPE_NOSNIFF = True
# Sent with every HTML page (chatr.middleware.ContentSecurityPolicyMiddleware): no inline script, nothing third-party.
CHATR_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
