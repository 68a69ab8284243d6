"""Request id, the request log line, request metrics, the content security policy, and the
opener policy of the pages a sign-in pop-up passes through."""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.logs import log_context_end, log_context_start
from core.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS
from core.proxy import client_address

logger = logging.getLogger("sso.request")

# An incoming X-Request-ID (from the proxy or the caller) is kept when it is short and plain;
# anything else is replaced, so that what we log and echo is never attacker-shaped text.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}$")


def _request_id(request: HttpRequest) -> str:
    incoming = request.META.get("HTTP_X_REQUEST_ID", "")
    return incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _view_name(request: HttpRequest) -> str:
    """A bounded label for metrics: the URL name, never the path."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or "unnamed"
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    if request.path in ("/healthz", "/readyz"):
        return request.path[1:]
    return "unmatched"


class RequestLogMiddleware:
    """Outermost: every response carries ``X-Request-ID`` and gets one JSON log line (method,
    path, status, duration, request id, client address, and what the view added, such as the
    connection and error code of a sign-in) and its request metrics."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = _request_id(request)
        request.request_id = request_id
        context = log_context_start(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - started
            response["X-Request-ID"] = request_id
            view = _view_name(request)
            HTTP_REQUESTS.labels(request.method, view, str(response.status_code)).inc()
            HTTP_REQUEST_DURATION.labels(request.method, view).observe(duration)
            logger.info(
                "%s %s %s",
                request.method,
                request.path[:200],
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path[:500],
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 2),
                    "client": client_address(request),
                    "view": view,
                },
            )
            return response
        finally:
            log_context_end(context)


class ContentSecurityPolicyMiddleware:
    """``CONTENT_SECURITY_POLICY`` on every response that sets none itself. In debug it is
    report-only: violations show in the browser console, Django's debug pages keep their inline
    styles."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.header = (
            "Content-Security-Policy-Report-Only" if settings.DEBUG else "Content-Security-Policy"
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(self.header, settings.CONTENT_SECURITY_POLICY)
        return response


class OpenerPolicyMiddleware:
    """``Cross-Origin-Opener-Policy: unsafe-none`` under ``OPENER_KEPT_PATHS``; Django's
    ``same-origin`` everywhere else (SecurityMiddleware only sets the header where none is set,
    so this middleware sits after it).

    Okta's "Authenticate with …" button opens ``/oauth/authorize/`` in a pop-up, where the admin
    may have to sign in first (``/sso/`` and the SAML round trip), and Okta's callback page hands
    the code to the admin page through ``window.opener``. A ``same-origin`` opener policy on any
    of our pages in that pop-up moves it to a new browsing context group and the opener is gone
    for good, so Okta never learns the authorization happened."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.prefixes = tuple(settings.OPENER_KEPT_PATHS)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(self.prefixes):
            response.headers["Cross-Origin-Opener-Policy"] = "unsafe-none"
        return response
