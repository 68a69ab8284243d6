from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# django.core.wsgi.get_wsgi_application(), with a request class that survives a charset which
# is no text encoding (core.wsgi.TextCharsetRequest).
django.setup(set_prefix=False)

from core.wsgi import Handler  # noqa: E402  (needs the apps loaded)

application = Handler()
