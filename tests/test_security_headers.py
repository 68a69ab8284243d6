"""Production security headers (issue 12): https redirect behind the TLS proxy, HSTS, a content
security policy with no inline script for our own pages and the admin, nosniff, frame
protection, cookie flags. Every page of ours and every admin page is rendered and read: no
inline script, handler or style, and every script and stylesheet it loads is served from here."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from lxml import html

from config.env import Rate
from tests.connections.saml_helpers import (
    finish,
    idp_for,
    idp_response,
    post_to_acs,
    sign_in,
    start_login,
)
from tests.provisioning.oauth_helpers import OktaClient, browser

pytestmark = pytest.mark.django_db

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROXY = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "sso.test"}


def csp_directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def inline_content(page: bytes) -> list[str]:
    """Everything a policy without 'unsafe-inline' would block, as readable findings."""
    tree = html.fromstring(page)
    findings = []
    for script in tree.iter("script"):
        if not script.get("src"):
            findings.append(f"inline <script>: {(script.text or '')[:60]!r}")
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag == "style":
            findings.append(f"<style>: {(element.text or '')[:60]!r}")
        for name, value in element.attrib.items():
            if name == "style" or name.startswith("on"):
                findings.append(f"<{element.tag} {name}={value[:40]!r}>")
            if name in ("href", "src", "action") and value.strip().lower().startswith(
                "javascript:"
            ):
                findings.append(f"<{element.tag} {name}={value[:40]!r}>")
    return findings


def assert_loads_only_from_here(client: Client, page: bytes) -> None:
    """Every script and stylesheet of the page is same-origin and answers 200."""
    tree = html.fromstring(page)
    urls = [s.get("src") for s in tree.iter("script")]
    urls += [link.get("href") for link in tree.iter("link") if "stylesheet" in link.get("rel", "")]
    assert urls, "a page with neither script nor stylesheet?"
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url, **PROXY).status_code == 200, url


# --- headers --------------------------------------------------------------------------------


def test_plain_http_is_redirected_to_https_and_the_proxy_header_is_trusted(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # the production value (config/test_settings turns it off)

    plain = client.get("/sso/?next=/x", HTTP_HOST="sso.test")
    proxied = client.get("/sso/?next=/x", **PROXY)

    assert plain.status_code == 301
    assert plain["Location"] == "https://sso.test/sso/?next=/x"
    assert proxied.status_code == 200


def test_production_settings_turn_the_redirect_and_secure_cookies_on():
    """config/test_settings.py switches these off for the test client's plain http; the
    production module keeps them on (checked on the module itself)."""
    from config import settings as production

    assert production.SECURE_SSL_REDIRECT is True
    assert production.SESSION_COOKIE_SECURE is True
    assert production.CSRF_COOKIE_SECURE is True
    assert production.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")


def test_pages_carry_hsts_csp_nosniff_and_frame_protection(client):
    response = client.get("/sso/", **PROXY)

    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    directives = csp_directives(response)
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path", ["/oauth/authorize/?client_id=x", "/sso/", "/sso/no-such-connection/login/"]
)
def test_pages_of_the_oauth_pop_up_keep_their_opener(client, path):
    """Okta's "Authenticate with …" pop-up reports back through window.opener: no page it passes
    through may cut it off (the browser test proves the whole round trip)."""
    response = client.get(path, **PROXY)

    assert response["Cross-Origin-Opener-Policy"] == "unsafe-none"


def test_other_pages_isolate_their_browsing_context(client):
    response = client.get("/admin/login/", **PROXY)

    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_session_and_csrf_cookies_are_secure_httponly_and_lax(acme, settings):
    """Lax, not Strict: the ACS is a cross-site POST from the IdP and answers with a 303 to the
    finish page, a top-level GET that must carry the session and binding cookies."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    client = Client()

    form = client.get("/sso/", **PROXY)
    login, request = start_login(client, acme.connection)
    done = sign_in(client, acme.connection, idp_response(acme, "member@acme.com"))

    assert done.status_code == 302
    for response, name in [
        (form, "csrftoken"),
        (login, next(iter(login.cookies))),  # the sign-in's binding cookie
        (done, "sessionid"),
    ]:
        cookie = response.cookies[name]
        assert cookie["secure"] is True, name
        assert cookie["httponly"] is True, name
        assert cookie["samesite"] == "Lax", name


# --- no inline script or style, anywhere ----------------------------------------------------


def test_our_templates_hold_no_inline_script_style_or_handler():
    templates = sorted((PROJECT_ROOT / "templates").rglob("*.html"))
    assert len(templates) >= 10
    for template in templates:
        text = template.read_text()
        assert "<style" not in text, template
        assert " style=" not in text, template
        for line in text.splitlines():
            if "<script" in line:
                assert " src=" in line, (template, line)
        assert " onload=" not in text and " onclick=" not in text, template


def _page(response, template: str) -> bytes:
    assert template in [t.name for t in response.templates], (template, response.status_code)
    return response.content


def _our_pages(client: Client, acme, globex, staff_user) -> dict[str, bytes]:
    """Every template of ours, rendered by the view that serves it."""
    pages = {
        "sign-in": _page(client.get("/sso/", **PROXY), "sso/sign_in.html"),
        "sign-in-unknown": _page(
            client.post("/sso/", {"identifier": "x@nowhere.example"}, **PROXY), "sso/sign_in.html"
        ),
        "refusal": _page(client.get("/sso/no-such-connection/login/", **PROXY), "sso/error.html"),
        "home-anonymous": _page(client.get("/", **PROXY), "home.html"),
        "sign-out": _page(client.get("/sso/logout/", **PROXY), "sso/sign_out.html"),
    }

    person = Client()
    sign_in(person, acme.connection, idp_response(acme, "member@acme.com"))
    pages["home-signed-in"] = _page(person.get("/", **PROXY), "home.html")
    other = post_to_acs(person, acme.connection, idp_response(acme, "admin@acme.com"))
    pages["confirm-switch"] = _page(person.get(other["Location"]), "sso/confirm_switch.html")

    okta = OktaClient.register()
    approver = browser()
    approver.force_login(acme.admin)
    pages["oauth-authorize"] = _page(
        approver.get(okta.authorize_url(state="s"), **PROXY), "oauth/authorize.html"
    )
    member = browser()
    member.force_login(acme.member)
    pages["oauth-refused"] = _page(
        member.get(okta.authorize_url(state="s"), **PROXY), "oauth/refused.html"
    )

    staff = Client()
    staff.force_login(staff_user)
    test_login = staff.get(f"/sso/{globex.connection.name}/login/", {"test": "1"})
    xml = idp_for(globex).respond_to(test_login["Location"], name_id="member@globex.com")
    report = finish(staff, post_to_acs(staff, globex.connection, xml))
    pages["test-login-report"] = _page(report, "sso/test_result.html")
    return pages


def test_our_pages_have_no_inline_content_and_load_only_from_here(
    client, acme, globex, staff_user, settings
):
    pages = _our_pages(client, acme, globex, staff_user)
    settings.RATE_LIMIT_SSO = Rate(count=1, seconds=60)
    flood = Client(HTTP_X_FORWARDED_FOR="10.250.0.1")
    flood.get("/sso/")
    pages["rate-limited"] = _page(flood.get("/sso/"), "sso/rate_limited.html")

    for name, page in pages.items():
        assert inline_content(page) == [], name
        assert_loads_only_from_here(client, page)


def admin_urls() -> list[str]:
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls.append(reverse(f"{prefix}_changelist"))
        urls.append(reverse(f"{prefix}_add"))
        first = model.objects.first()
        if first is not None:
            urls.append(reverse(f"{prefix}_change", args=[first.pk]))
    return urls


def test_every_admin_page_renders_under_the_policy_and_loads_its_scripts(acme, globex, staff_user):
    sign_in(Client(), acme.connection, idp_response(acme, "member@acme.com"))  # events, sessions
    anonymous = Client()
    login = anonymous.get(reverse("admin:login"), **PROXY)
    staff = Client()
    staff.force_login(staff_user)

    checked = 0
    for url in [reverse("admin:login"), *admin_urls()]:
        response = login if url == reverse("admin:login") else staff.get(url, **PROXY)
        if response.status_code == 403:  # an add page of a model nobody adds through the admin
            continue
        assert response.status_code == 200, url
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert inline_content(response.content) == [], url
        assert_loads_only_from_here(staff, response.content)
        checked += 1
    assert checked >= 20, checked
