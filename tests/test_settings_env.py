"""Settings fail at start, clearly, on a bad value: ``ImproperlyConfigured`` naming the variable.

A few cases load the real ``config.settings`` in a fresh interpreter (settings are read once per
process); the readers in ``config/env.py`` are tested directly for the rest.
"""

from __future__ import annotations

import base64
import os
import subprocess

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    Rate,
    read_bool,
    read_choice,
    read_database,
    read_int,
    read_list,
    read_rate,
    read_redis_url,
    read_str,
    read_url,
)
from tests.commands import run_python

CONFIG_VARIABLES = (
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "BASE_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "SAML_CLOCK_SKEW_SECONDS",
    "SAML_SIGNATURE_BACKEND",
    "DATABASE_CONN_MAX_AGE",
    "DATABASE_PREPARED_STATEMENTS",
    "SAML_KEY_ENCRYPTION_KEY",
    "RATE_LIMIT_SSO",
    "RATE_LIMIT_SCIM",
    "RATE_LIMIT_SCIM_AUTH",
    "TRUSTED_PROXY_HOPS",
    "SESSION_IDLE_SECONDS",
    "METRICS_TOKEN",
    "LOG_LEVEL",
    "HSTS_SECONDS",
    "DJANGO_STATIC_ROOT",
)
# A Fernet key (32 bytes, url-safe base64), made for the run.
FERNET_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
# A complete production-like environment; each case spoils one value.
GOOD = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "not-a-real-secret-but-long-enough-for-a-test-run-0123456789",
    "BASE_URL": "https://sso.example.com",
    "SAML_KEY_ENCRYPTION_KEY": FERNET_KEY,
}


_PRINT = (
    "from django.conf import settings; "
    "print(settings.DEBUG, settings.BASE_URL, settings.DATABASES['default']['ENGINE'])"
)


def _setup_django(code: str = _PRINT, **variables: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    for name, value in variables.items():
        if value is not None:
            env[name] = value
    return run_python(f"import django; django.setup(); {code}", env=env)


@pytest.mark.parametrize(
    ("variable", "environment"),
    [
        ("DJANGO_DEBUG", {"DJANGO_DEBUG": "maybe"}),
        ("SAML_CLOCK_SKEW_SECONDS", GOOD | {"SAML_CLOCK_SKEW_SECONDS": "abc"}),
        ("SAML_CLOCK_SKEW_SECONDS", GOOD | {"SAML_CLOCK_SKEW_SECONDS": "99999"}),
        ("DATABASE_URL", GOOD | {"DATABASE_URL": "foo://bar"}),
        ("REDIS_URL", GOOD | {"REDIS_URL": "http://x"}),
        ("BASE_URL", GOOD | {"BASE_URL": "http://x.com"}),
        ("DJANGO_SECRET_KEY", GOOD | {"DJANGO_SECRET_KEY": None}),
        ("SAML_KEY_ENCRYPTION_KEY", GOOD | {"SAML_KEY_ENCRYPTION_KEY": None}),
        ("SAML_SIGNATURE_BACKEND", GOOD | {"SAML_SIGNATURE_BACKEND": "openssl"}),
        ("DATABASE_CONN_MAX_AGE", GOOD | {"DATABASE_CONN_MAX_AGE": "forever"}),
        ("SAML_KEY_ENCRYPTION_KEY", GOOD | {"SAML_KEY_ENCRYPTION_KEY": "not-a-fernet-key"}),
        (
            "SAML_KEY_ENCRYPTION_KEY",
            GOOD | {"SAML_KEY_ENCRYPTION_KEY": f"{FERNET_KEY},{'A' * 20}"},
        ),
        ("RATE_LIMIT_SSO", GOOD | {"RATE_LIMIT_SSO": "100"}),
        ("RATE_LIMIT_SCIM", GOOD | {"RATE_LIMIT_SCIM": "100/d"}),
        ("RATE_LIMIT_SCIM_AUTH", GOOD | {"RATE_LIMIT_SCIM_AUTH": "0/m"}),
        ("TRUSTED_PROXY_HOPS", GOOD | {"TRUSTED_PROXY_HOPS": "two"}),
        ("SESSION_IDLE_SECONDS", GOOD | {"SESSION_IDLE_SECONDS": "30"}),
        ("METRICS_TOKEN", GOOD | {"METRICS_TOKEN": "short"}),
        ("LOG_LEVEL", GOOD | {"LOG_LEVEL": "LOUD"}),
        ("HSTS_SECONDS", GOOD | {"HSTS_SECONDS": "60"}),
    ],
    ids=[
        "debug-maybe",
        "skew-not-a-number",
        "skew-too-large",
        "database-unknown-scheme",
        "redis-http",
        "base-url-http-without-debug",
        "secret-key-unset-without-debug",
        "key-encryption-key-unset-without-debug",
        "signature-backend-unknown",
        "conn-max-age-not-a-number",
        "key-encryption-key-not-fernet",
        "key-encryption-key-second-one-short",
        "rate-without-unit",
        "rate-per-day",
        "rate-zero",
        "proxy-hops-not-a-number",
        "session-idle-too-short",
        "metrics-token-too-short",
        "log-level-unknown",
        "hsts-too-short",
    ],
)
def test_settings_refuse_a_bad_value_naming_the_variable(variable, environment):
    result = _setup_django(**environment)

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: ")
    assert variable in last_line


def test_settings_load_with_debug_on_and_nothing_else_set():
    result = _setup_django(DJANGO_DEBUG="1")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "http://127.0.0.1:8000",
        "django.db.backends.sqlite3",
    ]


_KEYS = "from django.conf import settings; print(len(settings.SAML_KEY_ENCRYPTION_KEYS))"


def test_key_encryption_keys_are_a_list_for_rotation():
    second = base64.urlsafe_b64encode(os.urandom(32)).decode()

    result = _setup_django(_KEYS, **(GOOD | {"SAML_KEY_ENCRYPTION_KEY": f"{FERNET_KEY}, {second}"}))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2"]


def test_settings_load_with_a_complete_production_environment():
    result = _setup_django(**GOOD, DATABASE_URL="postgres://sso:pw@db.internal:5432/sso")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "https://sso.example.com",
        # Django's PostgreSQL backend with a health check that spares the round trip.
        "core.postgresql",
    ]


_DATABASE = (
    "from django.conf import settings; from django.db import connection; "
    "d = settings.DATABASES['default']; "
    "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'], settings.SAML_SIGNATURE_BACKEND); "
    "cursor = connection.cursor(); "
    "print(cursor.execute('PRAGMA journal_mode').fetchone()[0], "
    "cursor.execute('PRAGMA synchronous').fetchone()[0])"
)


def test_production_keeps_database_connections_and_sqlite_runs_in_wal(tmp_path):
    result = _setup_django(_DATABASE, **GOOD, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")

    assert result.returncode == 0, result.stderr
    persistent, wal = result.stdout.splitlines()
    assert persistent.split() == ["60", "True", "xmlsec"]
    # synchronous 1 is NORMAL (FULL, SQLite's default, is 2), set on every new connection.
    assert wal.split() == ["wal", "1"]


def test_connection_age_and_signature_backend_come_from_the_environment(tmp_path):
    result = _setup_django(
        _DATABASE,
        **GOOD,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DATABASE_CONN_MAX_AGE="0",
        SAML_SIGNATURE_BACKEND="xmlsec1",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["0", "True", "xmlsec1"]


def test_debug_opens_a_connection_per_request(tmp_path):
    result = _setup_django(
        _DATABASE, DJANGO_DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["0", "True", "xmlsec"]


# --- the readers, directly ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True), ("true", True), ("Yes", True), (" on ", True), ("TRUE", True),
        ("0", False), ("false", False), ("No", False), ("off", False),
    ],
)  # fmt: skip
def test_read_bool_accepts_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)

    assert read_bool("FLAG", default=not expected) is expected


@pytest.mark.parametrize("raw", [None, ""], ids=["unset", "empty"])
def test_read_bool_uses_the_default_when_unset_or_empty(monkeypatch, raw):
    if raw is None:
        monkeypatch.delenv("FLAG", raising=False)
    else:
        monkeypatch.setenv("FLAG", raw)

    assert read_bool("FLAG", default=True) is True
    assert read_bool("FLAG", default=False) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "enabled"])
def test_read_bool_refuses_anything_else(monkeypatch, raw):
    monkeypatch.setenv("FLAG", raw)

    with pytest.raises(ImproperlyConfigured, match=f"^FLAG must be one of .*got '{raw}'"):
        read_bool("FLAG", default=False)


def test_read_int_reads_a_number_in_range(monkeypatch):
    monkeypatch.setenv("SKEW", " 300 ")

    assert read_int("SKEW", default=120, minimum=0, maximum=900) == 300


@pytest.mark.parametrize("raw", [None, ""])
def test_read_int_uses_the_default_when_unset_or_empty(monkeypatch, raw):
    if raw is None:
        monkeypatch.delenv("SKEW", raising=False)
    else:
        monkeypatch.setenv("SKEW", raw)

    assert read_int("SKEW", default=120, minimum=0, maximum=900) == 120


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "SKEW must be a whole number; got 'abc'"),
        ("1.5", "SKEW must be a whole number; got '1.5'"),
        ("99999", "SKEW must be between 0 and 900; got 99999"),
        ("-1", "SKEW must be between 0 and 900; got -1"),
    ],
)
def test_read_int_refuses_non_numbers_and_out_of_range(monkeypatch, raw, message):
    monkeypatch.setenv("SKEW", raw)

    with pytest.raises(ImproperlyConfigured) as refused:
        read_int("SKEW", default=120, minimum=0, maximum=900)

    assert str(refused.value) == message


def test_read_int_accepts_the_bounds(monkeypatch):
    for raw, expected in (("0", 0), ("900", 900)):
        monkeypatch.setenv("SKEW", raw)
        assert read_int("SKEW", default=120, minimum=0, maximum=900) == expected


def test_read_str_requires_a_value_without_a_default(monkeypatch):
    monkeypatch.setenv("SECRET", "   ")

    with pytest.raises(ImproperlyConfigured, match="^SECRET is required$"):
        read_str("SECRET")

    monkeypatch.delenv("SECRET")
    with pytest.raises(ImproperlyConfigured, match="^SECRET is required$"):
        read_str("SECRET")


def test_read_str_strips_and_falls_back_to_a_default(monkeypatch):
    monkeypatch.setenv("SECRET", "  s3cret  ")
    assert read_str("SECRET") == "s3cret"

    monkeypatch.delenv("SECRET")
    assert read_str("SECRET", default="fallback") == "fallback"
    assert read_str("SECRET", default=None) is None


def test_read_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("HOSTS", " sso.example.com, ,admin.example.com ,")

    assert read_list("HOSTS", default=["x"]) == ["sso.example.com", "admin.example.com"]

    monkeypatch.delenv("HOSTS")
    assert read_list("HOSTS", default=["x"]) == ["x"]


@pytest.mark.parametrize(
    ("raw", "require_https", "expected"),
    [
        ("https://sso.example.com", True, "https://sso.example.com"),
        ("https://sso.example.com/", True, "https://sso.example.com"),
        ("https://sso.example.com:8443", True, "https://sso.example.com:8443"),
        ("http://127.0.0.1:8000", False, "http://127.0.0.1:8000"),
    ],
)
def test_read_url_returns_the_origin(monkeypatch, raw, require_https, expected):
    monkeypatch.setenv("ORIGIN", raw)

    assert read_url("ORIGIN", require_https=require_https) == expected


@pytest.mark.parametrize(
    ("raw", "require_https", "message"),
    [
        ("http://x.com", True, "ORIGIN must use https outside DJANGO_DEBUG"),
        ("sso.example.com", False, "ORIGIN must be an absolute http(s) URL"),
        ("ftp://sso.example.com", False, "ORIGIN must be an absolute http(s) URL"),
        ("https://", False, "ORIGIN must be an absolute http(s) URL"),
        ("https://sso.example.com/app", True, "ORIGIN must be an origin without a path"),
        ("https://sso.example.com/?x=1", True, "ORIGIN must be an origin without a path"),
    ],
)
def test_read_url_refuses_what_is_not_a_usable_origin(monkeypatch, raw, require_https, message):
    monkeypatch.setenv("ORIGIN", raw)

    with pytest.raises(ImproperlyConfigured) as refused:
        read_url("ORIGIN", require_https=require_https)

    assert str(refused.value).startswith(message)


def test_read_url_without_default_is_required(monkeypatch):
    monkeypatch.delenv("ORIGIN", raising=False)

    with pytest.raises(ImproperlyConfigured, match="^ORIGIN is required$"):
        read_url("ORIGIN", require_https=True)


@pytest.mark.parametrize(
    ("raw", "engine"),
    [
        ("postgres://sso:pw@db:5432/sso", "django.db.backends.postgresql"),
        ("postgresql://sso@db/sso", "django.db.backends.postgresql"),
        ("sqlite:////var/lib/sso/db.sqlite3", "django.db.backends.sqlite3"),
    ],
)
def test_read_database_accepts_postgres_and_sqlite(monkeypatch, raw, engine):
    monkeypatch.setenv("DB", raw)

    assert read_database("DB", default="sqlite:///x.sqlite3")["ENGINE"] == engine


def test_read_database_uses_the_default_when_unset(monkeypatch):
    monkeypatch.delenv("DB", raising=False)

    config = read_database("DB", default="sqlite:////tmp/default.sqlite3")

    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == "/tmp/default.sqlite3"


@pytest.mark.filterwarnings("ignore:Engine not recognized from url")
@pytest.mark.parametrize("raw", ["foo://bar", "mysql://u:p@db/sso", "not a url"])
def test_read_database_refuses_other_urls(monkeypatch, raw):
    monkeypatch.setenv("DB", raw)

    with pytest.raises(ImproperlyConfigured, match="^DB "):
        read_database("DB", default="sqlite:///x.sqlite3")


@pytest.mark.parametrize(
    "raw", ["redis://localhost:6379/0", "rediss://cache:6380/1", "unix:///run/redis.sock"]
)
def test_read_redis_url_accepts_redis_urls(monkeypatch, raw):
    monkeypatch.setenv("CACHE", raw)

    assert read_redis_url("CACHE") == raw


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_read_redis_url_unset_means_none(monkeypatch, raw):
    if raw is None:
        monkeypatch.delenv("CACHE", raising=False)
    else:
        monkeypatch.setenv("CACHE", raw)

    assert read_redis_url("CACHE") is None


@pytest.mark.parametrize("raw", ["http://x", "localhost:6379", "memcached://x"])
def test_read_redis_url_refuses_other_schemes(monkeypatch, raw):
    monkeypatch.setenv("CACHE", raw)

    with pytest.raises(ImproperlyConfigured, match="^CACHE must be a redis://"):
        read_redis_url("CACHE")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("10/s", Rate(10, 1)), (" 600/m ", Rate(600, 60)), ("5000/h", Rate(5000, 3600))],
)
def test_read_rate_reads_n_per_second_minute_or_hour(monkeypatch, raw, expected):
    monkeypatch.setenv("LIMIT", raw)

    assert read_rate("LIMIT", default="1/s") == expected
    assert str(expected) == raw.strip()


def test_read_rate_uses_the_default_when_unset(monkeypatch):
    monkeypatch.delenv("LIMIT", raising=False)

    assert read_rate("LIMIT", default="30/m") == Rate(30, 60)


@pytest.mark.parametrize("raw", ["10", "10/d", "0/m", "-5/m", "1.5/s", "ten/m", "10/ m", "1e3/s"])
def test_read_rate_refuses_anything_else_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("LIMIT", raw)

    with pytest.raises(ImproperlyConfigured, match="^LIMIT must look like N/s, N/m or N/h"):
        read_rate("LIMIT", default="1/s")


def test_read_choice_takes_one_of_the_choices_or_the_default(monkeypatch):
    monkeypatch.setenv("BACKEND", " xmlsec1 ")
    assert read_choice("BACKEND", default="xmlsec", choices=("xmlsec", "xmlsec1")) == "xmlsec1"
    monkeypatch.setenv("BACKEND", "")
    assert read_choice("BACKEND", default="xmlsec", choices=("xmlsec", "xmlsec1")) == "xmlsec"


def test_read_choice_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("BACKEND", "XMLSEC")
    with pytest.raises(ImproperlyConfigured, match="BACKEND must be one of xmlsec, xmlsec1"):
        read_choice("BACKEND", default="xmlsec", choices=("xmlsec", "xmlsec1"))


_POSTGRES_OPTIONS = (
    "from django.conf import settings; o = settings.DATABASES['default']['OPTIONS']; "
    "print(o.get('server_side_binding'), o.get('prepare_threshold'), o['connect_timeout'])"
)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, ["True", "5", "5"]), ("0", ["None", "None", "5"])]
)
def test_postgresql_prepares_statements_unless_told_not_to(value, expected):
    result = _setup_django(
        _POSTGRES_OPTIONS,
        **GOOD,
        DATABASE_URL="postgres://sso:pw@db.internal:5432/sso",
        DATABASE_PREPARED_STATEMENTS=value,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected
