"""Signing in through a connection with a real signed response, the way a browser does.

``saml_login`` plays the IdP (``tests.saml_idp.TestIdP``, signing with the connection's test key)
and the browser: it posts an IdP-initiated response to ``POST /sso/<name>/acs/``, follows the 303
to ``/sso/<name>/finish/`` and returns the final response. Nothing of the application is mocked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.contrib.auth import SESSION_KEY
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from connections.models import Connection
from tests.certs import KeyPair
from tests.saml_idp import TestIdP


def saml_login(
    connection: Connection,
    *,
    attributes: Mapping[str, str | list[str]] | None,
    name_id: str | None = None,
    client: Client | None = None,
    keypair: KeyPair | None = None,
    relay_state: str | None = None,
) -> HttpResponse:
    """Sign ``attributes`` for ``connection``, post them to its ACS, follow the 303 to finish.

    ``name_id`` defaults to the ``email`` attribute. ``keypair`` defaults to ``connection.keypair``
    (set by ``ConnectionFactory``; pass it when the connection object was reloaded). Returns the
    finish response (a redirect when someone was signed in, the error page otherwise), or the ACS
    response when the ACS itself refused.
    """
    client = client or Client()
    keypair = keypair or connection.keypair
    attributes = dict(attributes or {})
    if name_id is None:
        name_id = attributes["email"]
    idp = TestIdP(entity_id=connection.idp_entity_id, keypair=keypair)
    xml = idp.response(
        acs_url=connection.acs_url,
        audience=connection.sp_entity_id,
        name_id=name_id,
        attributes=attributes,
    )
    acs = client.post(
        reverse("sso-acs", args=[connection.name]), idp.post_data(xml, relay_state=relay_state)
    )
    if acs.status_code != 303:
        return acs
    finish_path = reverse("sso-finish", args=[connection.name])
    assert acs["Location"] == finish_path, acs["Location"]
    return client.get(finish_path)


def session_user(client: Client) -> User | None:
    """The user the client's session is signed in as, or None."""
    user_id = client.session.get(SESSION_KEY)
    return User.objects.get(pk=user_id) if user_id is not None else None


def login_as(
    connection: Connection,
    *,
    attributes: Mapping[str, str | list[str]] | None,
    name_id: str | None = None,
    keypair: KeyPair | None = None,
) -> User:
    """A login that must succeed: returns the signed-in user, fresh from the database."""
    client = Client()
    response = saml_login(
        connection, attributes=attributes, name_id=name_id, client=client, keypair=keypair
    )
    assert response.status_code == 302, _summary(response)
    user = session_user(client)
    assert user is not None, "the finish step redirected but nobody is signed in"
    return user


def assert_refused(
    response: HttpResponse, connection: Connection, code: str, *, client: Client | None = None
) -> AuditEvent:
    """The error page shows ``code``, nobody is signed in, and exactly one ``sso.login_refused``
    event of this connection records it. Returns that event."""
    assert response.status_code in (400, 403), _summary(response)
    assert code in _text(response), _summary(response)
    if client is not None:
        assert session_user(client) is None
    events = AuditEvent.objects.filter(action="sso.login_refused", connection=connection)
    assert [event.error_code for event in events] == [code]
    return events.get()


def warnings_of(connection: Connection, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(connection=connection, action=action))


def _text(response: HttpResponse) -> str:
    return response.content.decode("utf-8", "replace")


def _summary(response: HttpResponse) -> str:
    """What a failed assertion shows: the status, the redirect target or the error code."""
    if "Location" in response:
        return f"{response.status_code} -> {response['Location']}"
    code = re.search(r'Error code: <span class="code">([^<]*)</span>', _text(response))
    return f"{response.status_code} error code {code.group(1) if code else '(none)'}"
