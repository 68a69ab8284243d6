"""Helpers for the SAML sign-in tests: drive the real flow through Django's test client.

Every response is built and signed by ``tests.saml_idp`` and verified by the production code path
(inspection, pysaml2 and xmlsec1); nothing of ours is mocked.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest, HttpResponse
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent, RefusalTally
from connections.models import Connection, VerifiedSignIn
from tests.saml_idp import AuthnRequest, TestIdP, okta_attributes, parse_authn_request, post_data

# Text that would betray a stack trace or the SAML/XML libraries on a page meant for end users.
LIBRARY_TEXT = (
    "Traceback",
    'File "',
    "saml2",
    "pysaml2",
    "xmlsec",
    "lxml",
    "defusedxml",
    "SignatureError",
    "Exception",
    "site-packages",
)


def local(url: str) -> str:
    """The path (and query) of an absolute URL of this service, as the test client wants it."""
    assert url.startswith(settings.BASE_URL), url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def idp_for(tenant, *, keypair=None, entity_id: str | None = None) -> TestIdP:
    """The tenant's IdP: its connection's issuer, signing with the connection's trusted key."""
    connection = tenant.connection
    return TestIdP(
        entity_id=entity_id or connection.idp_entity_id, keypair=keypair or connection.keypair
    )


def idp_response(tenant, name_id: str, *, attributes=None, connection=None, **options) -> bytes:
    """An IdP-initiated (unsolicited) response for ``name_id`` addressed to the tenant's
    connection (its ACS URL and entity ID unless ``options`` say otherwise), with Okta's
    attributes for that email by default. ``options`` are those of ``TestIdP.response``."""
    connection = connection or tenant.connection
    if attributes is None:
        attributes = okta_attributes(name_id)
    options = {"acs_url": connection.acs_url, "audience": connection.sp_entity_id, **options}
    return idp_for(tenant).response(name_id=name_id, attributes=attributes, **options)


def start_login(client: Client, connection: Connection, next_path: str | None = None):
    """``GET /sso/<name>/login/``; returns (the 302 response, the AuthnRequest it carries)."""
    url = f"/sso/{connection.name}/login/"
    response = client.get(url, {"next": next_path} if next_path is not None else {})
    assert response.status_code == 302, response.content[:500]
    return response, parse_authn_request(response["Location"])


#: When set (by the ``encrypting_idp`` fixture of the refusal tests), the IdP passes every
#: response through it before posting: ``(connection posted to, xml) -> xml``.
IDP_ENCRYPTS: Callable[[Connection, bytes], bytes] | None = None


def post_to_acs(
    client: Client, connection: Connection, xml: bytes, relay_state: str | None = None
) -> HttpResponse:
    """The IdP's HTTP-POST binding form, posted to the connection's ACS."""
    if IDP_ENCRYPTS is not None:
        xml = IDP_ENCRYPTS(connection, xml)
    return client.post(local(connection.acs_url), post_data(xml, relay_state))


def finish(client: Client, response: HttpResponse) -> HttpResponse:
    """Follow the ACS's 303 to ``/sso/<name>/finish/`` in the same browser."""
    assert response.status_code == 303, (response.status_code, response.content[:800])
    location = response["Location"]
    assert urlsplit(location).path.endswith("/finish/"), location
    return client.get(location)


def sign_in(client: Client, connection: Connection, xml: bytes, relay_state=None) -> HttpResponse:
    """Post to the ACS and follow to the finish page; returns the finish response."""
    return finish(client, post_to_acs(client, connection, xml, relay_state))


def signed_in_user(client: Client) -> User | None:
    """Who the browser's session signs in, read from the session store as Django does."""
    request = HttpRequest()
    request.session = client.session
    user = get_user(request)
    return user if user.is_authenticated else None


def signed_in_email(client: Client) -> str | None:
    user = signed_in_user(client)
    return user.email if user is not None else None


def refused_events(code: str):
    return AuditEvent.objects.filter(action="sso.login_refused", error_code=code)


def assert_refused(
    response: HttpResponse,
    code: str,
    *,
    users_before: int,
    connection: Connection | None = None,
    status: int | None = None,
    client: Client | None = None,
    never_created: tuple[str, ...] = (),
    pending_elsewhere: int = 0,
    tallied: bool = False,
) -> AuditEvent | RefusalTally:
    """The sign-in was refused with ``code``: a 4xx error page showing the code and no library
    text, an audit event with that code (for ``connection`` when given) or, when ``tallied``
    (an unknown connection), a count of it, nobody signed in, no user created, no verified
    sign-in left pending (for ``connection`` when given, else at all) beyond
    ``pending_elsewhere``, those another browser legitimately has. Returns the event (tally)."""
    client = client or response.client
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:800])
    if status is not None:
        assert response.status_code == status
    assert "sso/error.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert f'<span class="code">{code}</span>' in page, page
    for text in LIBRARY_TEXT:
        assert text not in page, f"{text!r} on the error page"

    if tallied:
        event = RefusalTally.objects.filter(code=code).order_by("-last_seen").first()
        assert event is not None, f"no tally of {code}"
    else:
        event = AuditEvent.objects.filter(action="sso.login_refused").order_by("-id").first()
        assert event is not None, "no sso.login_refused audit event"
        assert event.error_code == code, event.error_code
        if connection is not None:
            assert event.connection_id == connection.pk

    assert signed_in_email(client) is None
    assert User.objects.count() == users_before
    for email in never_created:
        assert not User.objects.filter(email=email).exists(), email
    pending = VerifiedSignIn.objects.filter(token_hash__isnull=False)
    if connection is not None:
        pending = pending.filter(connection=connection)
    assert pending.count() == pending_elsewhere, "a refused sign-in left a verified sign-in pending"
    return event


__all__ = [
    "AuthnRequest",
    "assert_refused",
    "finish",
    "idp_for",
    "idp_response",
    "local",
    "post_to_acs",
    "refused_events",
    "sign_in",
    "signed_in_email",
    "signed_in_user",
    "start_login",
]
