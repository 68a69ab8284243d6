"""The ACS's remembered connection rows (``connections.connection_cache``, PostgreSQL): a row a
process remembers decides nothing once it has changed. Whatever changed it (the admin's service,
a queryset update that leaves ``updated_at`` alone, a certificate rotated, the row deleted and a
new one made under the same name), the next response is accepted or refused exactly as with the
row read afresh, and nothing is written on the strength of the old row."""

from __future__ import annotations

import pytest
from django.db import connection as database
from django.test import Client

from accounts.models import User
from connections import connection_cache
from connections.connection_cache import (
    ConnectionChanged,
    remembered,
    remembered_connection,
    still_current,
)
from connections.models import Connection, ConnectionStatus, PendingAuthnRequest, VerifiedSignIn
from connections.services import (
    connection_add_certificate,
    connection_remove_certificate,
    connection_set_status,
)
from connections.sign_in import acs_receive
from tests.certs import make_keypair
from tests.connections.saml_helpers import (
    assert_refused,
    idp_for,
    idp_response,
    post_to_acs,
    sign_in,
    signed_in_email,
)
from tests.factories import ConnectionFactory
from tests.saml_idp import okta_attributes, post_data

pytestmark = pytest.mark.postgres("rows are remembered on PostgreSQL only (xmin and ctid)")


def remember(tenant) -> Connection:
    """A response accepted through the tenant's connection: its row is now remembered."""
    browser = Client()
    accepted = sign_in(browser, tenant.connection, idp_response(tenant, tenant.member.email))
    assert accepted.status_code == 302 and signed_in_email(browser) == tenant.member.email
    cached = remembered_connection(tenant.connection.name)
    assert remembered(cached)
    return cached


def test_a_remembered_row_is_used_without_reading_the_connection_again(acme):
    remember(acme)
    reads = []

    def count(execute, sql, params, many, context):
        reads.append(sql)
        return execute(sql, params, many, context)

    with database.execute_wrapper(count):
        response = post_to_acs(Client(), acme.connection, idp_response(acme, acme.member.email))

    assert response.status_code == 303
    statements = [sql for sql in reads if not sql.startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 1  # the guarded insert, alone: no read of the connection
    assert statements[0].startswith('INSERT INTO "connections_verifiedsignin"')
    assert "WHERE EXISTS" in statements[0]


def test_a_connection_disabled_after_it_was_remembered_refuses_the_next_response(acme):
    remember(acme)
    connection_set_status(connection=acme.connection, status=ConnectionStatus.DISABLED)
    users = User.objects.count()

    refused = post_to_acs(Client(), acme.connection, idp_response(acme, acme.member.email))

    assert_refused(refused, "connection_disabled", users_before=users, connection=acme.connection)


def test_a_change_that_leaves_updated_at_alone_is_seen_all_the_same(acme):
    """A queryset update bypasses the services (and ``updated_at``): the row's version moves."""
    remember(acme)
    Connection.objects.filter(pk=acme.connection.pk).update(status=ConnectionStatus.DISABLED)
    users = User.objects.count()

    refused = post_to_acs(Client(), acme.connection, idp_response(acme, acme.member.email))

    assert_refused(refused, "connection_disabled", users_before=users, connection=acme.connection)


def test_idp_initiated_sign_in_turned_off_after_remembering_is_refused(acme):
    remember(acme)
    Connection.objects.filter(pk=acme.connection.pk).update(allow_idp_initiated=False)
    users = User.objects.count()

    refused = post_to_acs(Client(), acme.connection, idp_response(acme, acme.member.email))

    assert_refused(refused, "saml_unsolicited", users_before=users, connection=acme.connection)


def test_a_connection_enabled_after_a_disabled_row_was_remembered_accepts_at_once(acme):
    """A refusal decided on a remembered row counts only if the row is still current."""
    connection_set_status(connection=acme.connection, status=ConnectionStatus.DISABLED)
    refused = post_to_acs(Client(), acme.connection, idp_response(acme, acme.member.email))
    assert refused.status_code == 403
    assert remembered_connection(acme.connection.name).status == ConnectionStatus.DISABLED

    connection_set_status(connection=acme.connection, status=ConnectionStatus.ACTIVE)
    browser = Client()
    sign_in(browser, acme.connection, idp_response(acme, acme.member.email))

    assert signed_in_email(browser) == acme.member.email


def test_a_rotated_certificate_counts_at_once_both_ways(acme):
    remember(acme)
    new_key = make_keypair("acme-rotated.okta.example", slot="rotated")
    added = connection_add_certificate(
        connection=acme.connection, certificate_data=new_key.cert_pem
    )
    old = acme.connection.certificates.exclude(pk=added.pk).get()
    connection_remove_certificate(certificate=old)
    users = User.objects.count()

    signed_with_new_key = idp_for(acme, keypair=new_key).response(
        acs_url=acme.connection.acs_url,
        audience=acme.connection.sp_entity_id,
        name_id=acme.member.email,
        attributes=okta_attributes(acme.member.email),
    )
    browser = Client()
    sign_in(browser, acme.connection, signed_with_new_key)
    assert signed_in_email(browser) == acme.member.email

    signed_with_removed_key = idp_response(acme, acme.member.email)
    refused = post_to_acs(Client(), acme.connection, signed_with_removed_key)
    assert_refused(
        refused, "saml_signature_invalid", users_before=users, connection=acme.connection
    )


def test_a_connection_made_again_under_a_remembered_name_is_the_one_used(acme, globex):
    """The name now belongs to another company's connection: the old row decides nothing, and
    the old company's IdP cannot sign in through it."""
    remember(acme)
    name = acme.connection.name
    Connection.objects.filter(pk=acme.connection.pk).delete()
    other_key = make_keypair("replacement.okta.example", slot="replacement")
    replacement = ConnectionFactory(company=globex.company, name=name, keypair=other_key)
    users = User.objects.count()

    refused = post_to_acs(Client(), replacement, idp_response(acme, acme.member.email))

    assert refused.status_code == 403
    assert User.objects.count() == users
    assert not VerifiedSignIn.objects.filter(connection=replacement).exists()
    assert remembered_connection(name).pk == replacement.pk


def test_a_remembered_row_changed_before_the_write_writes_nothing(acme):
    """The race the guarded insert closes: the row changes after the ACS read it and before
    it writes the verified sign-in. Nothing is written; the view then decides again."""
    cached = remember(acme)
    Connection.objects.filter(pk=acme.connection.pk).update(status=ConnectionStatus.DISABLED)
    pending = VerifiedSignIn.objects.count()
    form = post_data(idp_response(acme, acme.member.email))

    with pytest.raises(ConnectionChanged):
        acs_receive(connection=cached, saml_response=form["SAMLResponse"], relay_state=None)

    assert VerifiedSignIn.objects.count() == pending
    assert not still_current(cached)  # and forgotten: the next ACS reads the row now
    assert remembered_connection(acme.connection.name).status == ConnectionStatus.DISABLED


def test_each_connection_name_has_its_own_row(acme, globex):
    """Two companies' rows remembered side by side: a response for acme posted to globex's ACS
    is refused there as globex's, and acme's row is untouched."""
    remember(acme)
    remember(globex)
    users = User.objects.count()

    refused = post_to_acs(Client(), globex.connection, idp_response(acme, acme.member.email))

    assert refused.status_code == 403
    assert User.objects.count() == users
    assert remembered_connection(acme.connection.name).pk == acme.connection.pk
    assert remembered_connection(globex.connection.name).pk == globex.connection.pk


def test_at_most_so_many_rows_are_remembered(acme, globex, monkeypatch):
    monkeypatch.setattr(connection_cache, "REMEMBERED_CONNECTIONS", 1)
    remembered_connection(acme.connection.name)
    remembered_connection(globex.connection.name)

    assert list(connection_cache._rows) == [globex.connection.name]


def test_a_row_is_read_again_once_it_is_old(acme, monkeypatch):
    monkeypatch.setattr(connection_cache, "REMEMBERED_SECONDS", -1)  # old as soon as read
    remembered_connection(acme.connection.name)
    reads = []

    def count(execute, sql, params, many, context):
        reads.append(sql)
        return execute(sql, params, many, context)

    with database.execute_wrapper(count):
        remembered_connection(acme.connection.name)

    assert len(reads) == 1


def test_the_sp_initiated_start_is_decided_on_the_current_row_too(acme):
    """The redirect to the IdP comes from the remembered row only while it is current: a
    sign-on URL changed since sends the browser to the new one, and a connection disabled
    since is refused, with no request left pending."""
    remember(acme)
    new_url = "https://acme.okta.example/app/moved/sso/saml"
    Connection.objects.filter(pk=acme.connection.pk).update(sign_on_url=new_url)

    started = Client().get(f"/sso/{acme.connection.name}/login/")

    assert started.status_code == 302 and started["Location"].startswith(new_url + "?")

    Connection.objects.filter(pk=acme.connection.pk).update(status=ConnectionStatus.DISABLED)
    pending = PendingAuthnRequest.objects.count()
    refused = Client().get(f"/sso/{acme.connection.name}/login/")

    assert refused.status_code == 403
    assert PendingAuthnRequest.objects.count() == pending
