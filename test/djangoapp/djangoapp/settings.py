"""Settings of authlayer's test Django project, all from environment variables.

DJANGOAPP_DB                        SQLite file (required: never in the repository)
DJANGOAPP_SECRET_KEY                Django's SECRET_KEY (default: random per process)
DJANGOAPP_SIGNING_KEY               simplejwt's HS256 key (default: DJANGOAPP_SECRET_KEY)
DJANGOAPP_ACCESS_TOKEN_LIFETIME     seconds, may be fractional (default 300)
DJANGOAPP_REFRESH_TOKEN_LIFETIME    seconds, may be fractional (default 86400)
DJANGOAPP_ROTATE_REFRESH_TOKENS     1 or 0 (default 1)
DJANGOAPP_BLACKLIST_AFTER_ROTATION  1 or 0 (default 1)
DJANGOAPP_ALLOWED_HOSTS             comma list added to 127.0.0.1, localhost, [::1]

serve.py documents the variables it reads itself (address, users, ready file).
"""

import os
import secrets
from datetime import timedelta


def _env_bool(name, default):
    value = os.environ.get(name, "").strip().lower()
    if value == "":
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("%s: want 1 or 0, got %r" % (name, value))


def _env_seconds(name, default):
    value = os.environ.get(name, "").strip()
    seconds = float(value) if value else float(default)
    if seconds <= 0:
        raise ValueError("%s: want a positive number of seconds, got %r" % (name, value))
    return timedelta(seconds=seconds)


_db = os.environ.get("DJANGOAPP_DB", "")
if not _db:
    raise RuntimeError("DJANGOAPP_DB must name the SQLite file (in a temporary directory)")

SECRET_KEY = os.environ.get("DJANGOAPP_SECRET_KEY") or secrets.token_hex(32)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"] + [
    h.strip() for h in os.environ.get("DJANGOAPP_ALLOWED_HOSTS", "").split(",") if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
]

# startproject's middleware minus sessions and messages (no session or
# admin here), after the test-only request counter.
MIDDLEWARE = [
    "djangoapp.counting.CountingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "djangoapp.urls"
WSGI_APPLICATION = "djangoapp.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _db,
        # Threaded server: wait for SQLite's write lock rather than failing.
        "OPTIONS": {"timeout": 10},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

TEMPLATES = []

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": _env_seconds("DJANGOAPP_ACCESS_TOKEN_LIFETIME", 300),
    "REFRESH_TOKEN_LIFETIME": _env_seconds("DJANGOAPP_REFRESH_TOKEN_LIFETIME", 86400),
    "ROTATE_REFRESH_TOKENS": _env_bool("DJANGOAPP_ROTATE_REFRESH_TOKENS", True),
    "BLACKLIST_AFTER_ROTATION": _env_bool("DJANGOAPP_BLACKLIST_AFTER_ROTATION", True),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": os.environ.get("DJANGOAPP_SIGNING_KEY") or SECRET_KEY,
    "TOKEN_OBTAIN_SERIALIZER": "djangoapp.serializers.ClaimsTokenObtainPairSerializer",
}

# Request lines and errors (tracebacks included) to stderr; no bodies, so
# no token or password reaches the log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "INFO"},
        "django.server": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "djangoapp": {"handlers": ["stderr"], "level": "INFO"},
    },
}
