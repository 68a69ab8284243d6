"""Settings, read from the environment (see README "Configuration")."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    read_bool,
    read_database,
    read_int,
    read_list,
    read_redis_url,
    read_str,
    read_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = read_bool("DJANGO_DEBUG", default=False)

# In debug a throwaway key is made per process; outside debug the key must come from the
# environment and there is no default.
SECRET_KEY = read_str("DJANGO_SECRET_KEY", default=secrets.token_urlsafe(50) if DEBUG else None)
if SECRET_KEY is None:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is required unless DJANGO_DEBUG is on")

ALLOWED_HOSTS = read_list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else []
)

# The public origin of the service: SP entity IDs and ACS URLs are built from it, so it must be
# exactly what browsers and IdPs see.
BASE_URL = read_url(
    "BASE_URL",
    default="http://127.0.0.1:8000" if DEBUG else None,
    require_https=not DEBUG,
)

# The bundled development IdP (connections/dev_idp.py): served only in debug. Deliberately not read
# from the environment, so no deployment can switch it on; the end-to-end tests (tests/e2e/) turn
# it on for their live server, and serve it from another site (DEV_IDP_ORIGIN), as a real IdP is.
DEV_IDP_ENABLED = DEBUG
DEV_IDP_ORIGIN: str | None = None  # None: BASE_URL

SAML_CLOCK_SKEW_SECONDS = read_int("SAML_CLOCK_SKEW_SECONDS", default=120, minimum=0, maximum=900)

# Hosts whose IdP metadata URL may resolve to a private address or use plain http (in-house
# IdPs, tests); every other metadata URL is https to a public address (connections.metadata_fetch).
IDP_METADATA_ALLOW_HOSTS = [
    host.lower() for host in read_list("IDP_METADATA_ALLOW_HOSTS", default=[])
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "oauth2_provider",
    "accounts",
    "audit",
    "connections",
    "provisioning",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
    "default": read_database("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "sso-start"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# --- cache, Celery -------------------------------------------------------------------------
# REDIS_URL unset: local cache and Celery tasks run in-process (eager), so the default install
# needs nothing but Python. Set: Redis is Celery's broker and the shared cache.
REDIS_URL = read_redis_url("REDIS_URL")

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    # A task that fails for good must not turn the request that queued it into a 500: the
    # change is already committed, and the failure is recorded (see provisioning.tasks).
    CELERY_TASK_EAGER_PROPAGATES = False

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100

# --- security ------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# A SAML response is a few KB; anything near this is hostile.
DATA_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "connections": {"level": "INFO"},
        "saml2": {"level": "WARNING"},
    },
}

# DRF serves only SCIM; its views set their own authentication (bearer tokens, never sessions).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}

# OAuth 2.0 for Okta's "Authenticate with …" (django-oauth-toolkit). Short-lived access tokens,
# rotating refresh tokens, tokens and client secrets hashed at rest, PKCE accepted (S256).
OAUTH2_PROVIDER = {
    "SCOPES": {
        "scim": "Provision and deprovision your company's users (SCIM)",
        "profile": "Read your own profile",
    },
    "DEFAULT_SCOPES": ["scim"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": read_int(
        "OAUTH_ACCESS_TOKEN_SECONDS", default=3600, minimum=60, maximum=86400
    ),
    "REFRESH_TOKEN_EXPIRE_SECONDS": 180 * 24 * 3600,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": False,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"] if DEBUG else ["https"],
    "REQUEST_APPROVAL_PROMPT": "force",
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "RESOURCE_SERVER_TOKEN_RESOURCE_VALIDATOR": "provisioning.oauth.validate_scim_audience",
}
# Okta's OAuth callback for an OIN app, per cell (US, EMEA, preview); "{app}" is the app's name
# in the Okta Integration Network. Registered by default by `oauth_client create --okta-app`.
OKTA_OAUTH_CALLBACKS = read_list(
    "OKTA_OAUTH_CALLBACKS",
    default=[
        "https://system-admin.okta.com/admin/app/cpc/{app}/oauth/callback",
        "https://system-admin.okta-emea.com/admin/app/cpc/{app}/oauth/callback",
        "https://system-admin.oktapreview.com/admin/app/cpc/{app}/oauth/callback",
    ],
)

# Periodic jobs (celery beat).
CELERY_BEAT_SCHEDULE = {
    "deprovisioning-sweep": {"task": "provisioning.tasks.deprovisioning_sweep", "schedule": 300.0},
    "certificates-expiry-check": {
        "task": "connections.tasks.certificates_expiry_check",
        "schedule": 6 * 3600.0,
    },
    "saml-state-cleanup": {"task": "connections.tasks.saml_state_cleanup", "schedule": 3600.0},
    # Follows certificate rotations published at the IdPs' metadata URLs.
    "idp-metadata-refresh": {
        "task": "connections.tasks.metadata_refresh_all",
        "schedule": 24 * 3600.0,
    },
}
