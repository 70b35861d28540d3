"""Settings shared by every mode; everything deploy-specific comes from the environment."""

import os
from pathlib import Path

import dj_database_url

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
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
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
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "reme")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "reme.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Token requests are throttled per client address (password guessing); the counters live in Redis,
    # so every web process shares them.
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("API_TOKEN_RATE", "10/min")},
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
LLM_CONTEXT_TOKENS = int(os.environ.get("LLM_CONTEXT_TOKENS", "32768"))  # the model's context window
LLM_TURN_RESERVE_TOKENS = int(os.environ.get("LLM_TURN_RESERVE_TOKENS", "2048"))  # suffix + reply
# Candidates the LLM writes per participant and prepared prefix for the `llm-authored` group (0: none).
LLM_AUTHORING_CANDIDATES = int(os.environ.get("LLM_AUTHORING_CANDIDATES", "8"))
LLM_AUTHORING_TIMEOUT_S = float(os.environ.get("LLM_AUTHORING_TIMEOUT_S", "600"))  # nobody waits on it

CHAT_PUZZLES_PER_SESSION = int(os.environ.get("CHAT_PUZZLES_PER_SESSION", "5"))
# Web processes load the answer scorer's embedding model (torch, ~200 MB) at start. Processes that serve
# only researchers (dashboard, API, exports) can leave it out; it still loads on a first chat answer.
CHAT_SCORER_WARM_UP = env_bool("CHAT_SCORER_WARM_UP", True)
# Ask the LLM to judge free-text answers whose semantic score is borderline (needs a capable model). It runs
# only when CHAT_LLM_JUDGE_KAPPA, the model's kappa as `python -m chat.tune_scoring --judge` measured it, is at
# least the rule scorer's (chat.scoring.RULE_KAPPA): a judge that agrees less with markers never decides.
CHAT_LLM_JUDGE = env_bool("CHAT_LLM_JUDGE", False)
CHAT_LLM_JUDGE_KAPPA = float(os.environ.get("CHAT_LLM_JUDGE_KAPPA", "0"))

# Life-log import limits: a bad or huge file is refused with a message, never half-stored.
LIFELOG_MAX_UPLOAD_BYTES = int(os.environ.get("LIFELOG_MAX_UPLOAD_MB", "20")) * 1024 * 1024
LIFELOG_MAX_ENTRIES_PER_FILE = int(os.environ.get("LIFELOG_MAX_ENTRIES_PER_FILE", "20000"))
# Small batches of length-sorted texts pad least: 16 embedded ~1.5x faster than 64 on 2 cores.
LIFELOG_EMBED_BATCH = int(os.environ.get("LIFELOG_EMBED_BATCH", "16"))
DATA_UPLOAD_MAX_MEMORY_SIZE = LIFELOG_MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
