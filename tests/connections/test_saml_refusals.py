"""SAML sign-ins that must be refused: every case of the corpus (``tests/connections/refusals/``,
one case or a few per SPEC error code, then the attacks) run by one test.

Each case arranges what it needs, then makes the one request that must be refused; the test
asserts, for every case, the code on the error page and on the audit event, that nobody is signed
in, that no user was created and that nothing but the audit event was written. Where the
connection does JIT, the response names a new email (``NEW``) that JIT would otherwise create, so
a refusal that silently let the login through fails the test. Responses are signed by the test
IdP and verified by the production code path. The accepted controls follow the corpus.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import User, UserSource
from audit.models import AuditEvent
from connections.exceptions import ERROR_CODES
from connections.models import (
    ConnectionStatus,
    PendingAuthnRequest,
    SeenAssertion,
    VerifiedSignIn,
)
from connections.services import connection_update
from tests.certs import make_keypair
from tests.connections.refusals import CORPUS
from tests.connections.refusals.cases import NEW, Given, accepted, skew
from tests.connections.saml_helpers import (
    assert_refused,
    idp_for,
    idp_response,
    start_login,
)
from tests.factories import ConnectionFactory, UserFactory
from tests.saml_idp import okta_attributes, resign_with

# Every test twice: signatures verified in process, and by pysaml2 with xmlsec1 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("signature_backend")


@pytest.fixture
def attacker_key():
    """The attacker's own key and certificate (never configured on any connection)."""
    return make_keypair("attacker.example", slot="attacker")


@pytest.fixture
def attacker_ec_key():
    """The attacker's own EC (P-256) key and certificate."""
    return make_keypair("attacker.example", slot="attacker-ec", curve=True)


@pytest.fixture
def draft(acme):
    """A second acme connection still in draft (only the staff test login works there)."""
    return ConnectionFactory(
        company=acme.company,
        name="acme-draft",
        status=ConnectionStatus.DRAFT,
        default_team=acme.teams["Sales"],
        keypair=acme.connection.keypair,
    )


@pytest.fixture
def acme_without_domains(acme):
    """acme with no proven domain, so the domain rule lets every email through to the user
    rules (the SPEC checks domains only "when it has any")."""
    acme.company.domains.all().delete()
    return acme


def _footprint() -> dict[str, int]:
    """What a sign-in can write; a refusal adds the audit event and nothing else."""
    models = (User, AuditEvent, SeenAssertion, PendingAuthnRequest, VerifiedSignIn)
    return {model.__name__: model.objects.count() for model in models}


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_the_sign_in_is_refused_and_signs_nobody_in(case, request, db):
    # ``db`` up front: a case's fixtures are fetched by name below, and a database first set up
    # from inside the test is not migrated (a case run alone, with -k, failed on that).
    given = Given(**{name: request.getfixturevalue(name) for name in case.needs})
    act = case.arrange(given)
    before = _footprint()

    response = act()

    event = assert_refused(
        response,
        case.code,
        users_before=before["User"],
        connection=case.on(given) if case.on else None,
        status=case.status,
        client=case.client(given) if case.client else None,
        never_created=case.never_created,
        pending_elsewhere=case.pending_elsewhere,
        tallied=case.tallied,
    )
    after = _footprint()
    written = 0 if case.tallied else 1
    assert after["AuditEvent"] == before["AuditEvent"] + written, "a refusal writes one audit event"
    for model in ("SeenAssertion", "PendingAuthnRequest", "VerifiedSignIn"):
        assert after[model] <= before[model], f"a refusal wrote a {model}"
    if case.then is not None:
        case.then(given, event)


def test_the_corpus_names_each_case_once_and_covers_every_error_code():
    ids = [case.id for case in CORPUS]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z_]+(-[a-z0-9_-]+)?", case.id) for case in CORPUS), ids
    assert {case.code for case in CORPUS} == ERROR_CODES


# ================================================================================================
# Accepted controls: the same kinds of responses, valid, sign in
# ================================================================================================


def test_a_response_signed_by_the_idp_without_keyinfo_is_accepted(acme, client):
    """Control: the configured certificate verifies even when the message carries none."""
    accepted(client, acme.connection, idp_response(acme, NEW, include_key_info=False))


def test_a_certificate_in_keyinfo_other_than_the_signers_changes_nothing(
    acme, attacker_key, client
):
    """Control: KeyInfo is never read; the configured certificate verifies the IdP's signature
    whatever certificate the message carries."""
    xml = resign_with(
        idp_response(acme, NEW), acme.connection.keypair, key_info_keypair=attacker_key
    )

    accepted(client, acme.connection, xml)


def test_ecdsa_signatures_of_a_connection_with_an_ec_certificate_are_accepted(acme, client):
    ec_keypair = make_keypair("acme-ec.okta.example", slot="acme-ec", curve=True)
    connection = ConnectionFactory(
        company=acme.company, name="acme-ec", keypair=ec_keypair, default_team=acme.teams["Sales"]
    )
    xml = idp_for(acme, keypair=ec_keypair, entity_id=connection.idp_entity_id).response(
        acs_url=connection.acs_url,
        audience=connection.sp_entity_id,
        name_id=NEW,
        attributes=okta_attributes(NEW),
        algorithm="ecdsa-sha256",
        sign_response=True,
    )

    accepted(client, connection, xml)


def test_rsa_sha512_signatures_are_accepted(acme, client):
    accepted(client, acme.connection, idp_response(acme, NEW, algorithm="rsa-sha512"))


def test_a_response_that_expired_within_the_clock_skew_is_accepted(acme, client):
    ended = datetime.now(UTC) - skew() + timedelta(seconds=30)

    accepted(client, acme.connection, idp_response(acme, NEW, not_on_or_after=ended))


def test_a_response_not_yet_valid_within_the_clock_skew_is_accepted(acme, client):
    issued = datetime.now(UTC) + skew() - timedelta(seconds=30)
    xml = idp_response(acme, NEW, issue_instant=issued, not_before=timedelta(0))

    accepted(client, acme.connection, xml)


def test_the_clock_skew_comes_from_the_setting(acme, client, settings):
    settings.SAML_CLOCK_SKEW_SECONDS = 600
    # Five minutes ahead: beyond the default 2-minute skew, within this 10-minute one.
    issued = datetime.now(UTC) + timedelta(minutes=5)
    xml = idp_response(acme, NEW, issue_instant=issued, not_before=timedelta(0))

    accepted(client, acme.connection, xml)


def test_the_clock_skew_setting_is_a_real_window(settings):
    """The within/beyond pairs only mean something with a skew of more than 30 s."""
    assert settings.SAML_CLOCK_SKEW_SECONDS > 30


def test_an_sp_initiated_login_still_works_where_idp_initiated_is_turned_off(acme, client):
    connection = connection_update(connection=acme.connection, allow_idp_initiated=False)
    start, _ = start_login(client, connection)
    xml = idp_for(acme).respond_to(start["Location"], name_id=NEW, attributes=okta_attributes(NEW))

    accepted(client, connection, xml)


def test_a_scim_user_on_a_scim_connection_signs_in(acme, client):
    """Control for the user_not_provisioned cases."""
    connection = connection_update(connection=acme.connection, provisioning="scim")
    UserFactory(company=acme.company, email=NEW, source=UserSource.SCIM)

    accepted(client, connection, idp_response(acme, NEW))


# --- RelayState and next tricks: the login goes through, the redirect stays home -------------------

REDIRECT_TRICKS = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "///evil.example",
    "/\t/evil.example",
    "\\\\evil.example",
    "https:evil.example",
]


@pytest.mark.parametrize("relay_state", REDIRECT_TRICKS)
def test_a_foreign_relay_state_lands_on_home(acme, client, relay_state):
    done = accepted(
        client,
        acme.connection,
        idp_response(acme, acme.member.email),
        relay_state,
        email=acme.member.email,
    )

    assert done["Location"] == "/"


@pytest.mark.parametrize("next_path", REDIRECT_TRICKS)
def test_a_foreign_next_on_login_lands_on_home(acme, client, next_path):
    start, _ = start_login(client, acme.connection, next_path=next_path)
    xml = idp_for(acme).respond_to(
        start["Location"], name_id=acme.member.email, attributes=okta_attributes(acme.member.email)
    )

    done = accepted(client, acme.connection, xml, email=acme.member.email)

    assert done["Location"] == "/"
