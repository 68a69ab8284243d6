from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

# Names are URL path segments (/sso/<name>/...) and what customers type into Okta's
# "Connection" field, so words that collide with our own URLs or could pass for ours are refused.
RESERVED_CONNECTION_NAMES = frozenset(
    {
        "admin", "api", "static", "media", "sso", "scim", "oauth", "login", "logout", "signin",
        "signout", "metadata", "acs", "auth", "account", "accounts", "www", "mail", "help",
        "support", "status", "health", "assets", "public", "root", "system", "staff", "test",
        "default", "null", "none", "undefined", "connection", "connections", "saml", "sp", "idp",
    }
)  # fmt: skip

_NAME_CHARS = re.compile(r"^[a-z0-9-]+$")


def validate_connection_name(value: str) -> None:
    """Each rule fails with its own message so the customer knows what to change."""
    if not 2 <= len(value) <= 63:
        raise ValidationError(
            f"A connection name is 2 to 63 characters long; '{value}' has {len(value)}.",
            code="name_length",
        )
    if value != value.lower():
        raise ValidationError(
            f"A connection name is all lowercase; try '{value.lower()}'.", code="name_case"
        )
    if not _NAME_CHARS.match(value):
        raise ValidationError(
            "A connection name may contain only lowercase letters, digits and hyphens.",
            code="name_characters",
        )
    if not value[0].isalpha():
        raise ValidationError("A connection name starts with a letter.", code="name_start")
    if value.endswith("-"):
        raise ValidationError("A connection name cannot end with a hyphen.", code="name_end")
    if "--" in value:
        raise ValidationError(
            "A connection name cannot contain two hyphens in a row.", code="name_double_hyphen"
        )
    if value in RESERVED_CONNECTION_NAMES:
        raise ValidationError(
            f"'{value}' is reserved; choose another connection name (e.g. your company name).",
            code="name_reserved",
        )


def _require_https(value: str, what: str, code: str) -> None:
    """The URL's shape is checked by the URLField itself; this adds the scheme rule."""
    scheme = urlsplit(value).scheme
    if scheme != "https" and not (settings.DEBUG and scheme == "http"):
        raise ValidationError(f"The {what} must use https.", code=code)


def validate_sign_on_url(value: str) -> None:
    _require_https(value, "sign-on URL", "sign_on_url_https")


def validate_slo_url(value: str) -> None:
    _require_https(value, "single logout URL", "slo_url_https")
