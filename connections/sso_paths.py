"""The paths of a connection's SSO endpoints (``reverse`` over ``connections.urls``), computed
once per process for each connection name instead of on every request: a ``reverse`` costs
about 20 µs, and the ACS alone needs three (its own URL, which Destination and Recipient must
equal; the SP entity ID, which Audience must name; the finish step it redirects to)."""

from __future__ import annotations

import functools

from django.urls import URLResolver, get_resolver, get_script_prefix, get_urlconf, reverse

# Four endpoints per connection are asked for on the sign-in path.
_CACHE_SIZE = 4 * 20_000


def sso_path(url_name: str, connection_name: str) -> str:
    """``reverse(url_name, args=[connection_name])``. Keyed on what ``reverse`` reads besides
    its arguments: the URL resolver (a new object whenever the URL configuration changes:
    ``clear_url_caches``, ``override_settings(ROOT_URLCONF=...)``, a per-request urlconf) and
    the script prefix (the deployment's ``SCRIPT_NAME``). No pattern here is translated, so the
    active language does not enter."""
    return _path(url_name, connection_name, get_resolver(get_urlconf()), get_script_prefix())


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _path(url_name: str, connection_name: str, resolver: URLResolver, prefix: str) -> str:
    return reverse(url_name, args=[connection_name], urlconf=resolver.urlconf_name)
