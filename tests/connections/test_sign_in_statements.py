"""How many SQL statements and transactions each step of a sign-in costs, pinned so that a
regression shows: counts, never time (``bench/saml_acs.py`` measures the time).

Each count is the warm path (the connection's trusted keys and pysaml2 client already cached,
as in a running process) of a browser with no session yet and a user who already exists, unless
the test says otherwise. Before the lean path (issue 13) an IdP-initiated sign-in took 17
statements in 7 transactions: ACS 3 in 1, finish 14 in 6 (the connection read twice, the
pending sign-in read then deleted, the session checked for, inserted then updated, the
user-session record read then inserted).
"""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client

from accounts.models import User, UserSession
from audit.models import AuditEvent
from connections.models import SamlSession
from tests.connections.saml_helpers import (
    idp_for,
    idp_response,
    post_to_acs,
    signed_in_email,
    start_login,
)
from tests.saml_idp import okta_attributes, tamper
from tests.sql_statements import statements

# Transactional (tests/sql_statements.py says why); serialized_rollback puts back what the migrations
# made, as the end-to-end tests after these expect (tests/e2e/steps.py).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def connection_read() -> list[str]:
    """The read of the connection by the SP-initiated start and the ACS: on PostgreSQL the row
    is remembered, and the step's write checks it is still current
    (connections.connection_cache)."""
    return [] if connection.vendor == "postgresql" else ["SELECT connections_connection"]


def acs_idp_initiated() -> list[str]:
    return [
        *connection_read(),
        "INSERT connections_verifiedsignin",  # its unique assertion ID: the replay check
    ]


def acs_sp_initiated() -> list[str]:
    """The request the response answers, consumed with the verified sign-in's insert or not at
    all: on PostgreSQL read, then deleted by the insert's statement, which checks the remembered
    connection row is current (connections.connection_cache.insert_while_current; no transaction);
    elsewhere deleted (``DELETE ... RETURNING``) before the insert, in one transaction."""
    if connection.vendor == "postgresql":
        return [
            "SELECT connections_pendingauthnrequest",
            "WITH DELETE connections_pendingauthnrequest, SELECT connections_connection, "
            "INSERT connections_verifiedsignin",
        ]
    return [
        *connection_read(),
        "DELETE connections_pendingauthnrequest",
        "INSERT connections_verifiedsignin",
    ]


def finish_take() -> list[str]:
    """The finish step's first read and writes: the connection, the assertion used (durably:
    INSERT ... SELECT from the pending sign-in, unless recorded) and the pending sign-in taken
    (UPDATE ... RETURNING, the row kept for replay). On PostgreSQL one statement, which also
    reads the user and the email's held domain by the keys the ACS kept
    (connections/sign_in/take.py); elsewhere three."""
    if connection.vendor == "postgresql":
        return [
            "WITH SELECT connections_connection, UPDATE connections_verifiedsignin, "
            "INSERT connections_seenassertion, SELECT accounts_user, SELECT accounts_domain"
        ]
    return [
        "SELECT connections_connection",
        "INSERT connections_seenassertion",
        "UPDATE connections_verifiedsignin",
    ]


def finish_user_read() -> list[str]:
    """The user and the email's held domain, read together (SQLite; PostgreSQL: with the take)."""
    return [] if connection.vendor == "postgresql" else ["SELECT accounts_user, accounts_domain"]


def finish_statements() -> list[str]:
    return [
        *finish_take(),
        *finish_user_read(),
        "INSERT audit_auditevent",
        "UPDATE accounts_user",  # last_login
        "INSERT accounts_usersession",
        "INSERT django_session",
        "INSERT connections_samlsession",  # NameID and SessionIndex, for Single Logout
    ]


@pytest.fixture
def warm(acme):
    """A process that has served acme before: its keys and pysaml2 client are cached."""
    browser = Client()
    start_login(browser, acme.connection)
    post_to_acs(browser, acme.connection, idp_response(acme, acme.admin.email))
    return acme


def test_idp_initiated_acs_then_finish(warm):
    acme = warm
    browser = Client()
    xml = idp_response(acme, acme.member.email)

    with statements() as acs:
        response = post_to_acs(browser, acme.connection, xml)
    with statements() as finish:
        done = browser.get(response["Location"])

    assert done.status_code == 302
    assert signed_in_email(browser) == acme.member.email
    assert (acs.kinds(), acs.transactions) == (acs_idp_initiated(), 1)
    assert (finish.kinds(), finish.transactions) == (finish_statements(), 1)


@pytest.mark.postgres("the batch is one statement on PostgreSQL; SQLite runs in process")
def test_on_postgresql_the_finish_steps_writes_reach_the_server_as_one_statement(warm):
    """Statements (each a round trip and a wake-up of the server) more than rows are what
    PostgreSQL costs a short request: the five writes of an accepted sign-in are one statement
    (core.batched_writes.writes_batched), and every row is there."""
    acme = warm
    browser = Client()
    response = post_to_acs(browser, acme.connection, idp_response(acme, acme.member.email))

    with statements() as finish:
        browser.get(response["Location"])

    assert signed_in_email(browser) == acme.member.email
    assert finish.batched() == [
        "INSERT audit_auditevent",
        "UPDATE accounts_user",
        "INSERT accounts_usersession",
        "INSERT django_session",
        "INSERT connections_samlsession",
    ]
    session = Session.objects.get(session_key=browser.session.session_key)
    assert UserSession.objects.get(session_key=session.session_key).user == acme.member
    assert SamlSession.objects.get(user_session_id=session.session_key).name_id == (
        acme.member.email
    )
    assert AuditEvent.objects.filter(action="sso.login", actor=acme.member).count() == 1
    acme.member.refresh_from_db()
    assert acme.member.last_login is not None


def test_sp_initiated_login_acs_then_finish(warm):
    acme = warm
    browser = Client()

    with statements() as login:
        start, _ = start_login(browser, acme.connection, next_path="/after")
    xml = idp_for(acme).respond_to(
        start["Location"],
        name_id=acme.member.email,
        attributes=okta_attributes(acme.member.email),
    )
    with statements() as acs:
        response = post_to_acs(browser, acme.connection, xml)
    with statements() as finish:
        done = browser.get(response["Location"])

    assert done["Location"] == "/after"
    assert (login.kinds(), login.transactions) == (
        [*connection_read(), "INSERT connections_pendingauthnrequest"],
        1,
    )
    assert (acs.kinds(), acs.transactions) == (acs_sp_initiated(), 1)
    assert (finish.kinds(), finish.transactions) == (finish_statements(), 1)


def test_a_first_sign_in_creates_the_user_in_the_same_single_transaction(warm):
    acme = warm
    browser = Client()
    response = post_to_acs(browser, acme.connection, idp_response(acme, "new@acme.com"))

    with statements() as finish:
        browser.get(response["Location"])

    assert signed_in_email(browser) == "new@acme.com"
    assert finish.transactions == 1
    assert finish.kinds().count("INSERT accounts_user") == 1
    # A returning person's finish, and what JIT creation reads and writes on top
    # (the domain rules, the new user, its audit event: connections/sign_in/identity.py), with
    # two advisory locks on PostgreSQL (core.persistence.advisory_lock; SQLite needs none), and
    # the NameID and SessionIndex kept for Single Logout (issue 16), and the connection's company
    # and default team, read only for a creation (a returning person's finish needs neither).
    locks = ["SELECT"] * 2 if connection.vendor == "postgresql" else []
    assert [kind for kind in finish.kinds() if kind == "SELECT"] == locks
    assert len(finish) == len(finish_take()) + len(finish_user_read()) + 13 + len(locks)
    # The atomic blocks of JIT and user_create, nested: savepoints, on a first sign-in only.
    assert finish.savepoints == 3


def test_a_refused_response_costs_one_read_and_the_audit_event(warm):
    acme = warm
    xml = tamper(idp_response(acme, acme.member.email), acme.member.email, acme.admin.email)
    users = User.objects.count()

    with statements() as acs:
        refused = post_to_acs(Client(), acme.connection, xml)

    assert refused.status_code == 403
    # The connection's row: read (SQLite), or on PostgreSQL remembered and checked current
    # before the refusal counts (connections.connection_cache).
    assert (acs.kinds(), acs.transactions) == (
        ["SELECT connections_connection", "INSERT audit_auditevent"],
        1,
    )
    assert User.objects.count() == users
