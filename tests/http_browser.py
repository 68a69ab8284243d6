"""A browser behind the TLS proxy, talking plain HTTP to a web process on this machine (the
tests of tests/production/ and bench/load.py).

Requests carry what the proxy adds (``X-Forwarded-Proto: https``, the client's address in
``X-Forwarded-For``) and the public host name. Cookies are kept by name and sent back on every
request, as a browser on the https origin would: a client library would not send the Secure
cookies over the plain-http hop to the web process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http.cookies import SimpleCookie

import requests

HOST = "sso.test"  # BASE_URL of the test settings, and so of every signed response
REQUEST_SECONDS = 30


@dataclass
class Browser:
    address: str
    cookies: dict[str, str] = field(default_factory=dict)

    def remember(self, response: requests.Response) -> None:
        for header in response.raw.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


def send(
    port: int,
    method: str,
    path: str,
    *,
    browser: Browser | None = None,
    headers: dict[str, str] | None = None,
    proxied: bool = True,
    session: requests.Session | None = None,
    **kwargs,
) -> requests.Response:
    """One request to ``http://127.0.0.1:<port><path>``, as the proxy forwards it (``proxied``)
    or as a probe sends it straight to the process; redirects are not followed."""
    sent = {"Host": HOST}
    if proxied:
        sent["X-Forwarded-Proto"] = "https"
    if browser is not None:
        sent["X-Forwarded-For"] = browser.address
        if browser.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    sent.update(headers or {})
    response = (session or requests).request(
        method,
        f"http://127.0.0.1:{port}{path}",
        headers=sent,
        allow_redirects=False,
        timeout=REQUEST_SECONDS,
        **kwargs,
    )
    if browser is not None:
        browser.remember(response)
    return response
