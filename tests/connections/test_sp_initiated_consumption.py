"""An SP-initiated response consumes the request it answers together with the verified sign-in
it writes, or neither: on PostgreSQL the request is read before the signatures are checked and
deleted by the verified sign-in's own statement (``connection_cache.insert_while_current``);
elsewhere it is deleted first, in the step's transaction. Either way a refused response leaves
the request pending, a request answers one response, and a request another response took
meanwhile refuses the late one."""

from __future__ import annotations

import pytest
from django.db import connection as database
from django.test import Client

from accounts.models import User
from connections.connection_cache import ConnectionChanged, remembered, remembered_connection
from connections.models import Connection, ConnectionStatus, PendingAuthnRequest, VerifiedSignIn
from connections.sign_in import acs_receive
from tests.connections.saml_helpers import (
    assert_refused,
    finish,
    idp_for,
    idp_response,
    post_to_acs,
    sign_in,
    signed_in_email,
    start_login,
)
from tests.saml_idp import okta_attributes, post_data

pytestmark = pytest.mark.usefixtures("signature_backend")


def answer(tenant, start, **options) -> bytes:
    """The IdP's response to the request ``start`` (``/login/``'s redirect) carries."""
    return idp_for(tenant).respond_to(
        start["Location"],
        name_id=tenant.member.email,
        attributes=okta_attributes(tenant.member.email),
        **options,
    )


def test_an_accepted_response_consumes_its_request(acme):
    browser = Client()
    start, request = start_login(browser, acme.connection, next_path="/after")

    done = sign_in(browser, acme.connection, answer(acme, start))

    assert done["Location"] == "/after"
    assert signed_in_email(browser) == acme.member.email
    assert not PendingAuthnRequest.objects.filter(request_id=request.id).exists()
    assert VerifiedSignIn.objects.get(connection=acme.connection).request_id == request.id


def test_a_used_assertion_answering_another_request_leaves_that_request_pending(acme):
    """The verified sign-in's unique assertion ID refuses the response when it is written, after
    the request was read (or deleted, in the transaction): the refusal takes nothing."""
    first = Client()
    start, _ = start_login(first, acme.connection)
    sign_in(first, acme.connection, answer(acme, start, assertion_id="_assertion-used-once"))
    second = Client()
    start, request = start_login(second, acme.connection)
    users = User.objects.count()

    refused = post_to_acs(
        second, acme.connection, answer(acme, start, assertion_id="_assertion-used-once")
    )

    assert_refused(refused, "saml_replayed", users_before=users, connection=acme.connection)
    assert PendingAuthnRequest.objects.filter(request_id=request.id).exists()
    # ... and the request still answers a genuine response.
    sign_in(second, acme.connection, answer(acme, start))
    assert signed_in_email(second) == acme.member.email


@pytest.mark.postgres("the request is read, then deleted by the insert, on PostgreSQL only")
def test_a_request_another_response_takes_meanwhile_refuses_the_late_one(acme):
    """The race one statement closes: another response takes the request after this one read it
    and before its verified sign-in is written. This one writes nothing and is refused as if
    the request had been gone from the start."""
    browser = Client()
    start, request = start_login(browser, acme.connection)
    users = User.objects.count()

    def taken_just_before(execute, sql, params, many, context):
        if sql.startswith("WITH consumed AS (DELETE"):
            PendingAuthnRequest.objects.filter(request_id=request.id).delete()
        return execute(sql, params, many, context)

    with database.execute_wrapper(taken_just_before):
        refused = post_to_acs(browser, acme.connection, answer(acme, start))

    assert_refused(
        refused, "saml_in_response_to_mismatch", users_before=users, connection=acme.connection
    )
    assert not VerifiedSignIn.objects.filter(connection=acme.connection).exists()


@pytest.mark.postgres("rows are remembered on PostgreSQL only")
def test_a_remembered_row_changed_before_the_write_consumes_nothing(acme):
    """The connection changes after the ACS read its request and before the write: neither the
    request is deleted nor the verified sign-in written; the view then decides again on the
    row as it is (here: disabled, refused)."""
    browser = Client()
    sign_in(browser, acme.connection, idp_response(acme, acme.member.email))
    cached = remembered_connection(acme.connection.name)
    assert remembered(cached)
    start, request = start_login(browser, acme.connection)
    Connection.objects.filter(pk=acme.connection.pk).update(status=ConnectionStatus.DISABLED)
    pending_sign_ins = VerifiedSignIn.objects.count()
    form = post_data(answer(acme, start))

    with pytest.raises(ConnectionChanged):
        acs_receive(connection=cached, saml_response=form["SAMLResponse"], relay_state=None)

    assert PendingAuthnRequest.objects.filter(request_id=request.id).exists()
    assert VerifiedSignIn.objects.count() == pending_sign_ins
    refused = post_to_acs(browser, acme.connection, answer(acme, start))
    assert refused.status_code == 403
    assert "connection_disabled" in refused.content.decode()


def test_the_finish_step_signs_in_whom_the_consumed_request_was_for(acme):
    """Consumed at the ACS, the request's browser binding still decides at the finish step: the
    response completes only in the browser that started the sign-in."""
    started_here = Client()
    start, _ = start_login(started_here, acme.connection)
    elsewhere = Client()
    users = User.objects.count()

    refused = finish(elsewhere, post_to_acs(elsewhere, acme.connection, answer(acme, start)))

    assert_refused(
        refused, "saml_in_response_to_mismatch", users_before=users, connection=acme.connection
    )
    assert signed_in_email(started_here) is None
