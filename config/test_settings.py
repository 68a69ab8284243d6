"""Settings for the test run: the production module with debug-free defaults the tests need.

Nothing secret is committed: the key is made per run. ``DATABASE_URL`` and ``REDIS_URL`` pass
through, so the same suite runs on SQLite and in-process tasks or on PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import secrets

os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("BASE_URL", "https://sso.test")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "sso.test,testserver")

from config.env import Rate  # noqa: E402
from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Django's test client speaks plain http. The production values are tested where they matter:
# tests/production/ runs the Procfile's web line on config.settings itself.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False
# Templates render without `collectstatic`; tests/production/test_static_and_csp.py collects
# with the production storage.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True  # serves from the source directories, nothing to collect
WHITENOISE_USE_FINDERS = True
# The suite signs in hundreds of times from 127.0.0.1; the rate-limit tests set their own limits.
RATE_LIMIT_SSO = RATE_LIMIT_SCIM = RATE_LIMIT_SCIM_AUTH = Rate(count=10**9, seconds=1)

# Tasks run in-process in tests, also when REDIS_URL points at a real broker, so a test sees the
# outcome of the request it made. The worker tests (tests/provisioning/test_deprovisioning_worker.py)
# switch the Celery app to the broker and run a real worker.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
