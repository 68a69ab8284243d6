"""Strict readers for the environment.

django-environ parses the values; these wrappers make every bad value fail at start with an
``ImproperlyConfigured`` that names the variable, instead of a silent fallback (``env.bool`` reads
"maybe" as False) or a bare ``ValueError`` deep in a traceback.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

_UNSET: Any = object()

_SUPPORTED_DB_ENGINES = {
    "django.db.backends.postgresql",
    "django.db.backends.sqlite3",
}


def _raw(name: str) -> str | None:
    value = env.str(name, default=None)
    return None if value is None else value.strip()


def read_bool(name: str, *, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}"
    )


def read_int(name: str, *, default: int, minimum: int, maximum: int) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {value!r}") from None
    if not minimum <= number <= maximum:
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}; got {number}")
    return number


def read_str(name: str, *, default: str | None = _UNSET) -> str:
    value = _raw(name)
    if value:
        return value
    if default is _UNSET:
        raise ImproperlyConfigured(f"{name} is required")
    return default


def read_list(name: str, *, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def read_url(name: str, *, default: str | None = _UNSET, require_https: bool) -> str:
    value = read_str(name, default=default)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ImproperlyConfigured(f"{name} must be an absolute http(s) URL; got {value!r}")
    if require_https and parts.scheme != "https":
        raise ImproperlyConfigured(f"{name} must use https outside DJANGO_DEBUG; got {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ImproperlyConfigured(f"{name} must be an origin without a path; got {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


def read_database(name: str, *, default: str) -> dict:
    value = _raw(name) or default
    try:
        config = environ.Env.db_url_config(value)
    except Exception as exc:  # django-environ raises several types for a bad URL
        raise ImproperlyConfigured(f"{name} is not a usable database URL: {exc}") from None
    if config.get("ENGINE") not in _SUPPORTED_DB_ENGINES:
        raise ImproperlyConfigured(
            f"{name} must be a postgres:// or sqlite:/// URL; got scheme {value.split(':', 1)[0]!r}"
        )
    return config


def read_redis_url(name: str) -> str | None:
    value = _raw(name)
    if not value:
        return None
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(
            f"{name} must be a redis://, rediss:// or unix:// URL; got {value!r}"
        )
    return value


def read_fernet_keys(name: str) -> list[str]:
    """Comma-separated Fernet keys (url-safe base64 of 32 bytes each), the first one the key
    that encrypts; [] when unset."""
    keys = read_list(name, default=[])
    for position, key in enumerate(keys, start=1):
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a Fernet key (url-safe base64 of 32 bytes); make "
                'one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"'
            )
    return keys


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``seconds``."""

    count: int
    seconds: int

    def __str__(self) -> str:
        unit = {1: "s", 60: "m", 3600: "h"}[self.seconds]
        return f"{self.count}/{unit}"


_RATE = re.compile(r"^([1-9][0-9]{0,8})/([smh])$")
_RATE_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_rate(name: str, value: str) -> Rate:
    match = _RATE.match(value.strip())
    if match is None:
        raise ImproperlyConfigured(
            f"{name} must look like N/s, N/m or N/h (N a whole number from 1); got {value!r}"
        )
    return Rate(count=int(match.group(1)), seconds=_RATE_UNITS[match.group(2)])


def read_rate(name: str, *, default: str) -> Rate:
    return parse_rate(name, _raw(name) or default)


def read_choice(name: str, *, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if not value:
        return default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value
