"""Settings, read from the environment (see README "Configuration")."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.database import default_database
from config.env import (
    read_bool,
    read_choice,
    read_fernet_keys,
    read_int,
    read_list,
    read_rate,
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
# How SAML signatures are verified (connections/saml.py): "xmlsec", in process (the default), or
# "xmlsec1", stock pysaml2 running the xmlsec1 program; both refuse exactly the same responses.
SAML_SIGNATURE_BACKEND = read_choice(
    "SAML_SIGNATURE_BACKEND", default="xmlsec", choices=("xmlsec", "xmlsec1")
)

# SP private keys (request signing, assertion decryption) are stored encrypted with this key:
# one or more Fernet keys, comma-separated; the first encrypts, every one decrypts, so the key
# itself rotates by putting a new one first (then `manage.py connection reencrypt-sp-keys`).
# Required outside debug, like the secret key: every connection's SP metadata publishes an
# encryption certificate, so without it no metadata could be served. In debug, unset means a key
# made at run time under var/ (connections.key_encryption).
SAML_KEY_ENCRYPTION_KEYS = read_fernet_keys("SAML_KEY_ENCRYPTION_KEY")
if not SAML_KEY_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "SAML_KEY_ENCRYPTION_KEY is required unless DJANGO_DEBUG is on; make one with: "
        'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
    )
# RSA key size of the SP keys the product makes (not read from the environment).
SAML_SP_KEY_BITS = 3072

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
    # Outermost: every response (health checks, redirects, static files, 429s) carries
    # X-Request-ID and is logged and timed.
    "core.middleware.RequestLogMiddleware",
    # /healthz and /readyz answer before the https redirect and the Host check, so a load
    # balancer may probe a process by its address over plain http.
    "core.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.OpenerPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "connections.middleware.SsoRateLimitMiddleware",
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

DATABASES = {"default": default_database(debug=DEBUG, base_dir=BASE_DIR)}
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
STATICFILES_DIRS = [BASE_DIR / "static"]
# Filled by `manage.py collectstatic` (the Procfile's release step, or the image build); served
# by the web process itself through WhiteNoise, compressed and with content-hashed names.
STATIC_ROOT = read_str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

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
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- security ------------------------------------------------------------------------------
# Production sits behind a TLS proxy that sets X-Forwarded-Proto (SPEC "Running"); the web port
# must be reachable only through it. Plain http is redirected to https, except the health checks.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = not DEBUG  # /healthz and /readyz answer before this (see MIDDLEWARE)
SECURE_HSTS_SECONDS = (
    0 if DEBUG else read_int("HSTS_SECONDS", default=31536000, minimum=3600, maximum=63072000)
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Pages an OAuth pop-up (Okta's "Authenticate with …") passes through keep their opener; see
# core.middleware.OpenerPolicyMiddleware (the development IdP stands in for the customer's IdP
# in that pop-up). Everywhere else: Django's same-origin.
OPENER_KEPT_PATHS = ["/oauth/", "/sso/", "/dev-idp/"]
# The origin browsers post from: with the proxy header trusted, a same-origin POST carrying
# `Origin: https://...` passes the CSRF origin check.
CSRF_TRUSTED_ORIGINS = [BASE_URL]

# Cookies. SameSite=Lax, not Strict: the IdP posts the SAML response to the ACS cross-site, and
# the ACS answers with a 303 to /sso/<name>/finish/; that top-level GET must carry the session
# cookie (a signed-in person is never switched silently) and the binding cookie set when the
# sign-in started. Lax cookies ride on top-level GET navigations; Strict ones would not.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True  # no script of ours reads it; forms carry the token
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = not DEBUG
# A session ends after this long without a request (each request moves the expiry forward).
SESSION_IDLE_SECONDS = read_int(
    "SESSION_IDLE_SECONDS", default=8 * 3600, minimum=300, maximum=7 * 86400
)
SESSION_COOKIE_AGE = SESSION_IDLE_SECONDS
SESSION_SAVE_EVERY_REQUEST = True
# Django's database sessions, each written once per request (accounts/sessions.py).
SESSION_ENGINE = "accounts.sessions"

# Our own pages load scripts and styles from this origin only (no inline script or style);
# the admin's do too. form-action allows https: because the sign-in form redirects on to the
# customer's IdP and the OAuth approval on to Okta, and browsers check redirects after a form
# submission against form-action.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self' https:" + (" http:" if DEBUG else ""),
    ]
)

# A SAML response is a few KB; anything near this is hostile.
DATA_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024
# The largest SCIM request body, in bytes (413 past it, before any parsing). A group PATCH of
# 10,000 members (the most one request may name) is about 500 KB.
SCIM_MAX_BODY_BYTES = read_int(
    "SCIM_MAX_BODY_BYTES", default=1024 * 1024, minimum=64 * 1024, maximum=16 * 1024 * 1024
)

# --- rate limits ---------------------------------------------------------------------------
# Kept in Redis when REDIS_URL is set (shared by every process), else in the process. Each is
# N/s, N/m or N/h; a limited request gets 429 with Retry-After.
RATE_LIMIT_SSO = read_rate("RATE_LIMIT_SSO", default="600/m")  # per client address, /sso/...
RATE_LIMIT_SCIM = read_rate("RATE_LIMIT_SCIM", default="1200/m")  # per SCIM token or grant
RATE_LIMIT_SCIM_AUTH = read_rate("RATE_LIMIT_SCIM_AUTH", default="30/m")  # failures per address
# Which address is the client's: the one the N-th proxy in front of us saw, read from the right
# of X-Forwarded-For (each proxy appends the address it received the request from). 1: one TLS
# proxy (the SPEC's deployment); 0: clients connect to gunicorn directly (REMOTE_ADDR).
TRUSTED_PROXY_HOPS = read_int("TRUSTED_PROXY_HOPS", default=1, minimum=0, maximum=5)

# --- observability -------------------------------------------------------------------------
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is a 404.
METRICS_TOKEN = read_str("METRICS_TOKEN", default="")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 16 characters long")

LOG_LEVEL = read_str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR; got {LOG_LEVEL!r}"
    )

# One JSON object a line on stdout: every request (core.middleware), every task
# (config.celery), and everything else that is logged.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "core.logs.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"handlers": ["stdout"], "level": "WARNING"},
    "loggers": {
        "sso": {"level": LOG_LEVEL},
        "connections": {"level": LOG_LEVEL},
        "provisioning": {"level": LOG_LEVEL},
        "celery": {"level": LOG_LEVEL},
        "saml2": {"level": "WARNING"},
        # Every request is logged once, as JSON, by core.middleware; Django's own line for 4xx/5xx
        # would repeat it (errors with a traceback still come through django.request at ERROR).
        "django.request": {"level": "ERROR"},
        "django.security.DisallowedHost": {"level": "ERROR"},
    },
}

# DRF serves only SCIM; its views set their own authentication (bearer tokens, never sessions).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}


def _pkce_required(client_id: str) -> bool:
    # django-oauth-toolkit takes the per-client PKCE policy as a callable, not an import
    # string; the policy needs the models, which cannot be imported while settings load.
    from provisioning.oauth_validator import pkce_required

    return pkce_required(client_id)


# OAuth 2.0 for Okta's "Authenticate with …" (django-oauth-toolkit), on RFC 9700 (OAuth 2.0
# Security BCP): short-lived access tokens, rotating refresh tokens with replay detection,
# tokens and client secrets hashed at rest, no implicit or password grant, access tokens only in
# the Authorization header, PKCE with S256 only (required per client, see
# provisioning.oauth_validator), a replayed authorization code revokes what it issued, and the
# RFC 9207 `iss` parameter.
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
    "PKCE_REQUIRED": _pkce_required,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"] if DEBUG else ["https"],
    "REQUEST_APPROVAL_PROMPT": "force",
    "OAUTH2_VALIDATOR_CLASS": "provisioning.oauth_validator.ScimOAuth2Validator",
    "OIDC_ISS_ENDPOINT": BASE_URL,  # the RFC 9207 `iss` of authorization responses
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # Settings that would break these rules are errors of `manage.py check --deploy`.
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": not DEBUG,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
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
