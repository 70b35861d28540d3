"""Settings shared by every mode; everything deploy-specific comes from the environment."""

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from reme import queues

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "csp",
    # Our apps, lowest layer first: each imports only the ones listed before it (`make lint` checks).
    "accounts",
    "studies",
    "lifelog",
    "chat",
    "research",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "reme.middleware.RejectNullCharacters",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it turns a locked-out login into the lockout page
]

ROOT_URLCONF = "reme.urls"
ASGI_APPLICATION = "reme.asgi.application"
WSGI_APPLICATION = None

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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reme"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions end after a day's use, not two weeks; API tokens expire too and are deleted on logout.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_HOURS", "12")) * 3600
API_TOKEN_TTL = timedelta(hours=int(os.environ.get("API_TOKEN_HOURS", "24")))

# Reverse proxies in front of Daphne that append to X-Forwarded-For (docker/compose.yaml has none). With 0
# the client address is the socket's and the header, which any client can forge, is ignored.
NUM_PROXIES = int(os.environ.get("NUM_PROXIES", "0"))

# Login lockout (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from one address,
# that pair waits AXES_COOLOFF_TIME; the page says so in plain words (registration/locked_out.html).
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_CLIENT_IP_CALLABLE = "reme.middleware.client_address"

# Content-Security-Policy (django-csp): our own scripts, styles and images only; no inline code anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],  # includes the page's own ws:/wss: origin
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# The test suite hashes its fixture passwords with a fast hasher (`make test` sets REME_FAST_PASSWORD_HASHER=1 for
# itself and the servers it starts): four PBKDF2 hashes per test were most of its run time. Every other hasher
# stays accepted; nothing else sets it, so deployments keep PBKDF2.
if os.environ.get("REME_FAST_PASSWORD_HASHER") == "1":
    PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
    ]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / ".data" / "static"))
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / ".data" / "media"))

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# The cache and the channel layer are namespaced by the database they serve, so two checkouts (or `make run` and
# the tests) sharing one Redis database never read each other's entries: a participant id is unique only within
# its database, and a shared key once sent another database's life log as a participant's LLM context. The servers
# a test starts use the test database ("test_" + its name), so that prefix is not part of the namespace.
_DATABASE = DATABASES["default"]
DATA_NAMESPACE = hashlib.sha256(
    f"{_DATABASE.get('HOST')}|{_DATABASE.get('PORT')}|{str(_DATABASE.get('NAME')).removeprefix('test_')}".encode()
).hexdigest()[:12]
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": DATA_NAMESPACE,
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"asgi-{DATA_NAMESPACE}"},
    }
}

# Celery: late acks + requeue on a lost worker make ingestion survive a killed process;
# the tasks themselves are idempotent, so a redelivery is harmless.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = queues.default_queue()
# The LLM's work (minutes per prefix) and life-log imports each run on a queue and worker of their own: an
# upload never waits behind a prefill or an export (reme/queues.py).
CELERY_TASK_ROUTES = queues.task_routes()
CELERY_IMPORT_QUEUE = queues.queue_for("imports")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "accounts.authentication.ExpiringTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "reme.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Token requests are throttled per client address and per username (password guessing); the counters
    # live in Redis, so every web process shares them.
    "DEFAULT_THROTTLE_RATES": {
        "token": os.environ.get("API_TOKEN_RATE", "10/min"),
        "token_username": os.environ.get("API_TOKEN_USERNAME_RATE", "10/min"),
    },
    "NUM_PROXIES": NUM_PROXIES,  # how far X-Forwarded-For is trusted for the per-address throttle
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ReMe research API",
    "DESCRIPTION": "Studies, arms, frozen protocol versions, participants (public codes only), training "
    "sessions, trial records (one row per attempt) and life-log entries, scoped to the caller's studies.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files: no third-party CDN sees researchers' pages
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several serializers carry a "status": name each choice set once.
    "ENUM_NAME_OVERRIDES": {
        "ParticipantStatusEnum": "studies.models.Participant.Status",
        "TrainingSessionStatusEnum": "chat.models.TrainingSession.Status",
    },
}

# The LLM server is optional: without it the chat runs on its templates.
LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "")
LLM_MODEL = os.environ.get("LLM_MODEL", "reme-default")
LLM_API_KEY = os.environ.get("LLM_API_KEY", "")  # sent as a Bearer token when set
LLM_TIMEOUT_S = float(os.environ.get("LLM_TIMEOUT_S", "20"))
LLM_RETRIES = int(os.environ.get("LLM_RETRIES", "2"))  # before the first token only
LLM_RETRY_BASE_S = float(os.environ.get("LLM_RETRY_BASE_S", "0.25"))
LLM_BREAKER_FAILURES = int(os.environ.get("LLM_BREAKER_FAILURES", "3"))
LLM_BREAKER_COOLDOWN_S = float(os.environ.get("LLM_BREAKER_COOLDOWN_S", "30"))
LLM_PREFILL_ENABLED = env_bool("LLM_PREFILL_ENABLED", True)  # Celery sends each context ahead of sessions
# The most any prompt may use; never more than the server reports for its model (GET /v1/models).
LLM_CONTEXT_TOKENS = int(os.environ.get("LLM_CONTEXT_TOKENS", "32768"))
# A cold prefix of a long life log takes minutes on a CPU (tens on a busy one): the prefill waits as long as the
# server reports progress, and gives up only after this many seconds without any (ours reports every batch).
LLM_PREFILL_STALL_S = float(os.environ.get("LLM_PREFILL_STALL_S", "600"))
# First a short context of the most recent entries (this many tokens of life log; 0: none), so the LLM's first
# work (the greeting's rewording, puzzles over those entries) starts within minutes; then the whole life log.
LLM_WARM_CONTEXT_TOKENS = int(os.environ.get("LLM_WARM_CONTEXT_TOKENS", "2500"))
LLM_WARM_CANDIDATES = int(os.environ.get("LLM_WARM_CANDIDATES", "3"))  # puzzle candidates over the short context
LLM_TURN_RESERVE_TOKENS = int(os.environ.get("LLM_TURN_RESERVE_TOKENS", "2048"))  # suffix + reply
# Candidates the LLM writes per participant and prepared prefix for the `llm-authored` group (0: none).
LLM_AUTHORING_CANDIDATES = int(os.environ.get("LLM_AUTHORING_CANDIDATES", "8"))
# The puzzle kinds the LLM authors (chat.authoring.KINDS). key_word and describe_without_naming are off by
# default: the packaged 0.5B rarely writes a true definition or description (of its hints verifier-10 kept,
# nearly all were wrong by hand; README "Choosing the CPU model"; its descriptions: bench/results/authoring-cpu.md,
# seed 89); turn them on for a model that does, e.g. "shared_person,which_first,season_repeat,key_word".
# guess_event is off by default too: the 0.5B mostly copies its diary or glues words (seed 79, 300 entries: 3 of
# 12 accepted, 1 good by hand, one false; bench/results/authoring-cpu.md). common_ground is on: fresh seeds 109
# and 113 gave 5 of 12 and 8 of 12 accepted, 11 good by hand and 2 weak, none bad.
DEFAULT_AUTHORING_KINDS = "shared_person,which_first,season_repeat,common_ground"
LLM_AUTHORING_KINDS = tuple(
    kind.strip() for kind in os.environ.get("LLM_AUTHORING_KINDS", DEFAULT_AUTHORING_KINDS).split(",") if kind.strip()
)
LLM_AUTHORING_TIMEOUT_S = float(os.environ.get("LLM_AUTHORING_TIMEOUT_S", "600"))  # nobody waits on it
# Sampling temperature of authored candidates (0: greedy, the same prefix gives the same puzzles).
LLM_AUTHORING_TEMPERATURE = float(os.environ.get("LLM_AUTHORING_TEMPERATURE", "0.3"))
# The authoring task also rewords the chat's fixed lines (greeting, "Not quite." ...) ahead of time.
LLM_REWORDED_LINES = env_bool("LLM_REWORDED_LINES", True)

# WebSocket frames per connection: a burst, then a steady rate (a person acts every few seconds at most).
CHAT_FRAMES_BURST = int(os.environ.get("CHAT_FRAMES_BURST", "10"))
CHAT_FRAMES_PER_SECOND = float(os.environ.get("CHAT_FRAMES_PER_SECOND", "2"))
CHAT_PUZZLES_PER_SESSION = int(os.environ.get("CHAT_PUZZLES_PER_SESSION", "5"))
# Live LLM wording during a turn only when its first token comes within this many seconds; else the template.
CHAT_LLM_FIRST_TOKEN_S = float(os.environ.get("CHAT_LLM_FIRST_TOKEN_S", "1.5"))
# Web processes load the answer scorer's embedding model (torch, ~200 MB) at start. Processes that serve
# only researchers (dashboard, API, exports) can leave it out; it still loads on a first chat answer.
CHAT_SCORER_WARM_UP = env_bool("CHAT_SCORER_WARM_UP", True)
# A server process freezes what it loaded out of the garbage collector's way once warm (reme/gctune.py).
SERVER_GC_TUNE = env_bool("SERVER_GC_TUNE", True)
# Ask the LLM to judge free-text answers whose semantic score is borderline (needs a capable model). It runs
# only when CHAT_LLM_JUDGE_KAPPA, the model's kappa as `python -m chat.tune_scoring --judge` measured it, is at
# least the rule scorer's (chat.scoring.RULE_KAPPA): a judge that agrees less with markers never decides.
CHAT_LLM_JUDGE = env_bool("CHAT_LLM_JUDGE", False)
CHAT_LLM_JUDGE_KAPPA = float(os.environ.get("CHAT_LLM_JUDGE_KAPPA", "0"))

# Life-log import limits: a bad or huge file is refused with a message, never half-stored.
LIFELOG_MAX_UPLOAD_BYTES = int(os.environ.get("LIFELOG_MAX_UPLOAD_MB", "20")) * 1024 * 1024
LIFELOG_MAX_ENTRIES_PER_FILE = int(os.environ.get("LIFELOG_MAX_ENTRIES_PER_FILE", "20000"))
# Uploads up to this size are parsed before they are queued, so a bad file is refused at once.
LIFELOG_VALIDATE_ON_UPLOAD_BYTES = int(os.environ.get("LIFELOG_VALIDATE_ON_UPLOAD_MB", "5")) * 1024 * 1024
# Small batches of length-sorted texts pad least: 16 embedded ~1.5x faster than 64 on 2 cores.
LIFELOG_EMBED_BATCH = int(os.environ.get("LIFELOG_EMBED_BATCH", "16"))
# A running import beats every batch (a second or so); one silent for the lease lost its worker (kill -9, a
# lost machine) and a queued one unclaimed for the lease lost its message (a Redis restart): the sweeper,
# run by Celery beat every LIFELOG_SWEEP_EVERY_S, queues both again. Longer than any gap between beats.
LIFELOG_IMPORT_LEASE_S = float(os.environ.get("LIFELOG_IMPORT_LEASE_S", "120"))
LIFELOG_SWEEP_EVERY_S = float(os.environ.get("LIFELOG_SWEEP_EVERY_S", "30"))
CELERY_BEAT_SCHEDULE = {
    "lifelog-import-sweep": {
        "task": "lifelog.tasks.import_jobs_sweep",
        "schedule": LIFELOG_SWEEP_EVERY_S,
        # A sweep that waited behind a long import (or a stopped worker) is dropped: the next one is due.
        "options": {"expires": LIFELOG_SWEEP_EVERY_S},
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = LIFELOG_MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Bodies capped at the ASGI layer (reme/bodylimit.py) before Django reads them: a signed-in request may carry
# an upload (twice the import limit, so a slightly large file still gets the import's own message); one
# without a session cookie or Authorization header only a login or token form.
REQUEST_MAX_BODY_BYTES = 2 * LIFELOG_MAX_UPLOAD_BYTES + 1024 * 1024
ANONYMOUS_MAX_BODY_BYTES = int(os.environ.get("ANONYMOUS_MAX_BODY_KB", "64")) * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
