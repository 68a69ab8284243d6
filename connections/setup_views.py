"""The setup pages a customer's IT admin reaches through a setup link (no account needed).

``/setup/<token>/`` checks the token once, remembers the link in the browser's session and
redirects to ``/setup/``, so the token leaves the address bar and the history, and never goes
out in a Referer (the token URL is only ever a redirect, never a page; the pages send
``Referrer-Policy: same-origin``, so no other site gets a Referer either). Not ``no-referrer``:
with it, browsers send ``Origin: null`` on the pages' form posts, and Django's CSRF check refuses
them (tests/e2e/test_setup_link.py saw it in Chromium). Every page then takes the
connection from the link, never from the request, and checks the link again: expired, revoked or
used links stop at once. Forms carry Django's CSRF token.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.models import AuditEvent
from connections.exceptions import SignInRefused
from connections.models import Connection, SetupLink
from connections.setup_forms import SetupForm
from connections.setup_links import (
    SetupLinkInvalid,
    setup_link_activate,
    setup_link_configure,
    setup_link_from_token,
    setup_link_get,
    setup_link_opened,
    setup_link_test_started,
)
from connections.sign_in import binding_cookie_name, sign_in_start
from core.exceptions import ApplicationError

SESSION_KEY = "setup_link_id"

# The IdPs the page has step-by-step instructions for, in the order of the tabs.
IDPS = (
    ("okta", "Okta"),
    ("entra", "Microsoft Entra ID"),
    ("google", "Google Workspace"),
    ("onelogin", "OneLogin"),
    ("jumpcloud", "JumpCloud"),
)


def _private(response: HttpResponse) -> HttpResponse:
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    return response


def _invalid(request: HttpRequest, error: SetupLinkInvalid) -> HttpResponse:
    # The session keeps the link, so every later page says the same reason (expired, revoked).
    return _private(
        render(request, "setup/invalid.html", {"message": error.message}, status=error.http_status)
    )


def session_link(request: HttpRequest) -> SetupLink:
    return setup_link_get(request.session.get(SESSION_KEY))


def link_for_test(request: HttpRequest, connection: Connection) -> SetupLink | None:
    """The live link this browser opened, when it is the one of ``connection`` (a test sign-in
    started from the setup page comes back through the normal finish page)."""
    try:
        link = session_link(request)
    except SetupLinkInvalid:
        return None
    return link if link.connection_id == connection.pk else None


@never_cache
@require_GET
def setup_open(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = setup_link_from_token(token)
    except SetupLinkInvalid as error:
        return _invalid(request, error)
    if request.session.get(SESSION_KEY) != link.pk:
        request.session.cycle_key()
        request.session[SESSION_KEY] = link.pk
        setup_link_opened(link=link)
    return _private(redirect("setup-page"))


@never_cache
@require_http_methods(["GET", "POST"])
def setup_page(request: HttpRequest) -> HttpResponse:
    try:
        link = session_link(request)
    except SetupLinkInvalid as error:
        return _invalid(request, error)
    connection = link.connection
    form = SetupForm(request.POST or None, request.FILES or None, connection=connection)
    if request.method == "POST" and form.is_valid():
        try:
            setup_link_configure(link=link, **form.service_arguments())
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            return _private(HttpResponseRedirect(reverse("setup-page") + "#test"))
    return _render_page(request, link, form)


def _render_page(request, link: SetupLink, form: SetupForm, **extra) -> HttpResponse:
    connection = Connection.objects.select_related("company", "default_team").get(
        pk=link.connection_id
    )
    link.refresh_from_db()
    refusals = AuditEvent.objects.filter(
        connection=connection, action="sso.login_refused", created_at__gte=link.created_at
    ).order_by("-created_at", "-id")[:3]
    context = {
        "link": link,
        "connection": connection,
        "company": connection.company,
        "form": form,
        "idps": IDPS,
        "configured": connection.is_configured,
        "certificates": list(connection.certificates.all()),
        "test_current": bool(
            link.tested_at and (not link.configured_at or link.tested_at >= link.configured_at)
        ),
        "refusals": refusals,
        "sp": {
            "entity_id": connection.sp_entity_id,
            "acs_url": connection.acs_url,
            "login_url": connection.login_url,
            "metadata_url": connection.sp_entity_id,
        },
        "scim_base_url": f"{settings.BASE_URL}/scim/v2/",
        **extra,
    }
    return _private(render(request, "setup/page.html", context, status=200))


@never_cache
@require_POST
def setup_test(request: HttpRequest) -> HttpResponse:
    """Start a test sign-in at the customer's IdP: it reports, and signs nobody in."""
    try:
        link = session_link(request)
    except SetupLinkInvalid as error:
        return _invalid(request, error)
    connection = link.connection
    if not connection.is_configured:
        return _render_page(
            request, link, SetupForm(connection=connection),
            test_error="Enter your identity provider's details first (step 2).",
        )  # fmt: skip
    try:
        started = sign_in_start(connection=connection, next_path=None, test_login=True)
    except SignInRefused as error:
        return _render_page(
            request, link, SetupForm(connection=connection), test_error=error.message
        )
    setup_link_test_started(link=link)
    response = HttpResponseRedirect(started.redirect_url)
    response.set_cookie(
        binding_cookie_name(started.request_id),
        started.browser_secret,
        max_age=600,
        path=f"/sso/{connection.name}/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return _private(response)


@never_cache
@require_POST
def setup_activate(request: HttpRequest) -> HttpResponse:
    try:
        link = session_link(request)
    except SetupLinkInvalid as error:
        return _invalid(request, error)
    try:
        connection = setup_link_activate(link=link)
    except ApplicationError as error:
        return _render_page(
            request, link, SetupForm(connection=link.connection), activate_error=error.message
        )
    request.session.pop(SESSION_KEY, None)
    return _private(render(request, "setup/done.html", {"connection": connection}))
