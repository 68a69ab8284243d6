"""The sign-in pages and SAML endpoints. Thin: parse the request, call the flow, render."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
)
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connections.connection_cache import OnCurrentRow
from connections.exceptions import ConnectionUnknown, SamlMalformed, SignInRefused
from connections.key_encryption import SpKeysUnavailable
from connections.logout import (
    logout_refusal_record,
    logout_start,
    saml_session_record,
    slo_receive,
)
from connections.metrics import sign_in_observe
from connections.models import Connection
from connections.redirects import safe_next_path
from connections.saml_bindings import read_post, read_redirect
from connections.selectors import connection_for_sign_in, connections_for_email
from connections.setup_links import link_actor_label, setup_link_record_test
from connections.setup_views import SESSION_KEY as SETUP_SESSION_KEY
from connections.setup_views import link_for_test
from connections.sign_in import (
    FINISH_COOKIE,
    acs_receive,
    binding_cookie_name,
    may_test_login,
    pending_take,
    sign_in_audit,
    sign_in_discard,
    sign_in_identity,
    sign_in_refusal_record,
    sign_in_start,
    sign_in_test_report,
    sign_in_user,
    sp_metadata_document,
    verified_sign_in_consume,
    verified_sign_in_get,
)
from connections.sso_paths import sso_path
from core.batched_writes import writes_batched
from core.untrusted import clip_fields

logger = logging.getLogger(__name__)

_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _cookie_args(path: str, max_age: int) -> dict:
    return {
        "max_age": max_age,
        "path": path,
        "secure": settings.SESSION_COOKIE_SECURE,
        "httponly": True,
        "samesite": "Lax",
    }


def _refused(
    request: HttpRequest,
    error: SignInRefused,
    connection: Connection | None,
    *,
    sign_in: bool = True,
    **context,
) -> HttpResponse:
    logger.info("sign-in refused: %s %s", error.code, clip_fields(error.extra))
    endpoint = (
        request.resolver_match.url_name.removeprefix("sso-") if request.resolver_match else ""
    )
    sign_in_refusal_record(error=error, connection=connection, endpoint=endpoint, context=context)
    if sign_in:
        sign_in_observe(connection_name=connection.name if connection else "", result=error.code)
    context = {"code": error.code, "message": error.message, "connection": connection,
               "setup_in_progress": SETUP_SESSION_KEY in request.session}  # fmt: skip
    return render(request, "sso/error.html", context, status=error.http_status)


def _connection_or_refuse(name: str) -> Connection:
    connection = connection_for_sign_in(name=name)
    if connection is None:
        raise ConnectionUnknown(extra={"name": name})  # clipped where it is recorded
    return connection


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask every site for /favicon.ico (also on the admin and JSON pages): a 404 there is
    an error in every visitor's console."""
    return HttpResponsePermanentRedirect(static("connections/favicon.svg"))


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"user": request.user})


@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """``/sso/``: a work email (its domain picks the connection) or a connection name."""
    next_path = safe_next_path(request.GET.get("next") or request.POST.get("next"), default="")
    context = {"next": next_path, "value": ""}
    if request.method == "POST":
        value = (request.POST.get("identifier") or "").strip().lower()[:254]
        context["value"] = value
        choices = connections_for_email(email=value) if "@" in value else []
        if "@" not in value and value:
            connection = connection_for_sign_in(name=value)
            choices = [connection] if connection is not None and connection.is_usable else []
        if len(choices) == 1:
            url = reverse("sso-login", args=[choices[0].name])
            return HttpResponseRedirect(
                f"{url}?{urlencode({'next': next_path})}" if next_path else url
            )
        if choices:
            context["choices"] = choices
        else:
            context["error"] = (
                "We found no single sign-on for that email address or connection name. "
                "Check it, or ask your IT team for your company's connection name."
            )
    return render(request, "sso/sign_in.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    """Ends the session here; when it came through a connection with an SLO URL, then sends the
    browser to the IdP with a LogoutRequest (Single Logout)."""
    if request.method == "POST":
        slo_url = None
        if request.user.is_authenticated:
            try:
                slo_url = logout_start(session_key=request.session.session_key, user=request.user)
            except SpKeysUnavailable as error:
                # Signed out here all the same; the IdP's session stays (the operator is told).
                logger.error("single logout not sent: %s", error.message)
        django_logout(request)
        return HttpResponseRedirect(slo_url) if slo_url else redirect("sso-start")
    return render(request, "sso/sign_out.html")


@require_GET
def metadata(request: HttpRequest, name: str) -> HttpResponse:
    try:
        connection = _connection_or_refuse(name)
    except SignInRefused as error:
        return _refused(request, error, None, sign_in=False)
    try:
        document = sp_metadata_document(connection)
    except SpKeysUnavailable as error:
        return _unavailable(request, error, connection)
    return HttpResponse(document, content_type="application/samlmetadata+xml")


def _unavailable(
    request: HttpRequest, error: SpKeysUnavailable, connection: Connection | None
) -> HttpResponse:
    """Our configuration, not the IdP's or the person's: logged for the operator, a plain 503."""
    logger.error("SP keys unavailable for %s: %s", connection, error.message)
    context = {
        "code": error.code,
        "message": "Single sign-on is misconfigured on our side; we have been told. "
        "Please try again later.",
        "connection": connection,
    }
    return render(request, "sso/error.html", context, status=error.http_status)


@never_cache
@require_GET
def login(request: HttpRequest, name: str) -> HttpResponse:
    """SP-initiated: an AuthnRequest to the IdP over HTTP-Redirect, bound to this browser."""
    row = None
    try:
        row = OnCurrentRow(name)  # as the ACS's (connections.connection_cache)
        test_login = request.GET.get("test") == "1" and may_test_login(request.user)
        started = row.run(
            lambda connection: sign_in_start(
                connection=connection, next_path=request.GET.get("next"), test_login=test_login
            )
        )
    except SignInRefused as error:
        return _refused(request, error, row and row.connection)
    except SpKeysUnavailable as error:  # signed requests, and no SP key to sign with
        return _unavailable(request, error, row.connection)
    connection = row.connection
    response = HttpResponseRedirect(started.redirect_url)
    response.set_cookie(
        binding_cookie_name(started.request_id),
        started.browser_secret,
        **_cookie_args(f"/sso/{connection.name}/", max_age=600),
    )
    return response


@csrf_exempt  # the IdP posts here cross-site; the signed response is the proof, not a CSRF token
@never_cache
@require_POST
def acs(request: HttpRequest, name: str) -> HttpResponse:
    row = None
    try:
        # On PostgreSQL a remembered row, checked where it counts (connections.connection_cache).
        row = OnCurrentRow(name)
        try:
            form = request.POST
        except RequestDataTooBig:
            raise SamlMalformed(
                extra={"reason": "the POST body is larger than any real response"}
            ) from None
        received = row.run(
            lambda connection: acs_receive(
                connection=connection,
                saml_response=form.get("SAMLResponse"),
                relay_state=form.get("RelayState"),
            )
        )
    except SignInRefused as error:
        return _refused(request, error, row and row.connection)
    except SpKeysUnavailable as error:  # an encrypted assertion, and no SP key to decrypt it
        return _unavailable(request, error, row.connection)
    connection = row.connection
    # Finish on a same-site GET, where the browser's session cookie is visible (see
    # VerifiedSignIn). 303 turns the POST into a GET.
    response = HttpResponseRedirect(sso_path("sso-finish", connection.name))
    response.status_code = 303
    response.set_cookie(
        FINISH_COOKIE,
        received.finish_token,
        **_cookie_args(f"/sso/{connection.name}/finish/", max_age=120),
    )
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def finish(request: HttpRequest, name: str) -> HttpResponse:
    """The verified sign-in completes here, in one transaction: consumed, the user resolved
    (JIT), the audit event, the login and its session row."""
    connection = None
    finish_token = request.COOKIES.get(FINISH_COOKIE)
    report = link = None
    try:
        signed_in = request.user if request.user.is_authenticated else None
        if signed_in is not None and request.method == "GET":
            connection = _connection_or_refuse(name)
            pending = verified_sign_in_get(connection=connection, finish_token=finish_token)
            if not pending.test_login and sign_in_identity(pending).email != signed_in.email:
                # Never swap one person's session for another's silently: ask.
                context = {
                    "connection": connection,
                    "current": signed_in,
                    "incoming": sign_in_identity(pending).email,
                }
                return render(request, "sso/confirm_switch.html", context)
        stay = request.method == "POST" and request.POST.get("choice") != "switch"
        with transaction.atomic():
            # On PostgreSQL one statement: the connection, the take, the use (sign_in.take).
            taken = pending_take(name=name, finish_token=finish_token)
            connection = taken.connection
            if connection is None:
                raise ConnectionUnknown(extra={"name": name})  # clipped where it is recorded
            record = verified_sign_in_consume(taken)
            browser_secret = (
                request.COOKIES.get(binding_cookie_name(record.request_id))
                if record.request_id
                else None
            )
            if record.test_login:
                link = link_for_test(request, connection)
                report = sign_in_test_report(
                    record=record,
                    browser_secret=browser_secret,
                    actor_label=link_actor_label(link) if link else "",
                )
                if link is not None:
                    setup_link_record_test(link=link, report=report)
            elif not stay:  # staying who they are only uses the pending sign-in up
                user = sign_in_user(record=record, browser_secret=browser_secret, read=taken.read)
                # Every check has passed: what is left only writes (on PostgreSQL, as one
                # statement: core.batched_writes.writes_batched).
                with writes_batched():
                    sign_in_audit(record=record, user=user)
                    django_login(request, user, backend=_MODEL_BACKEND)
                    # The session row, written here with the rest and only here (the
                    # middleware's save of the same data writes nothing: accounts.sessions).
                    request.session.save()
                    saml_session_record(
                        session_key=request.session.session_key,
                        connection=connection,
                        identity=record.identity,
                    )
    except SignInRefused as error:
        if connection is not None:
            # A refused sign-in is used up (the refusal rolled its consumption back).
            sign_in_discard(connection=connection, finish_token=finish_token)
        return _forget_cookies(_refused(request, error, connection), connection, None)
    if report is not None:
        context = {"connection": connection, "report": report, "setup_link": link}
        page = render(request, "sso/test_result.html", context)
        return _forget_cookies(page, connection, record)
    if stay:
        return _forget_cookies(redirect("home"), connection, record)
    sign_in_observe(connection_name=connection.name, result="ok")
    return _forget_cookies(redirect(record.next_path or "home"), connection, record)


@csrf_exempt  # the IdP's logout messages come cross-site; their signature is the proof
@never_cache
@require_http_methods(["GET", "POST"])
def slo(request: HttpRequest, name: str) -> HttpResponse:
    """Single Logout: an IdP's LogoutRequest (answered with a LogoutResponse) or its
    LogoutResponse to our LogoutRequest, over HTTP-Redirect (GET) or HTTP-POST."""
    connection = None
    try:
        connection = _connection_or_refuse(name)
        received = (
            read_redirect(request.META.get("QUERY_STRING", ""))
            if request.method == "GET"
            else read_post(request.POST)
        )
    except SignInRefused as error:
        return _logout_refused(request, error, connection)
    except RequestDataTooBig:
        return _logout_refused(
            request, SamlMalformed(extra={"reason": "the POST body is too large"}), connection
        )
    try:
        outcome = slo_receive(connection=connection, received=received)
    except SpKeysUnavailable as error:
        return _unavailable(request, error, connection)
    if outcome.answer is not None:
        if outcome.answer.fields is None:
            return HttpResponseRedirect(outcome.answer.url)
        context = {"action": outcome.answer.url, "fields": outcome.answer.fields}
        return render(request, "sso/post_binding.html", context)
    if outcome.refusal is not None:
        return _logout_page(request, outcome.refusal, connection)
    context = {"connection": connection, "idp_initiated": outcome.kind == "request"}
    return render(request, "sso/signed_out.html", context)


def _logout_refused(
    request: HttpRequest, error: SignInRefused, connection: Connection | None
) -> HttpResponse:
    """A logout message refused before it could be read: recorded, and said on a page."""
    logger.info("logout refused: %s %s", error.code, clip_fields(error.extra))
    logout_refusal_record(error=error, connection=connection)
    return _logout_page(request, error, connection)


def _logout_page(
    request: HttpRequest, error: SignInRefused, connection: Connection | None
) -> HttpResponse:
    context = {"code": error.code, "message": error.message, "connection": connection}
    return render(request, "sso/logout_error.html", context, status=error.http_status)


def _forget_cookies(response: HttpResponse, connection: Connection | None, record) -> HttpResponse:
    if connection is not None:
        response.delete_cookie(FINISH_COOKIE, path=f"/sso/{connection.name}/finish/")
        if record is not None and record.request_id:
            response.delete_cookie(
                binding_cookie_name(record.request_id), path=f"/sso/{connection.name}/"
            )
    return response
