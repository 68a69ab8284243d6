"""Refused sign-ins at the finish step: attribute_missing, user_not_provisioned, user_deactivated,
user_other_company, email_domain_not_allowed.
"""

from __future__ import annotations

from collections.abc import Callable

from accounts.models import UserSource
from audit.models import AuditEvent
from connections.services import connection_update
from tests.connections.refusals.cases import (
    NEW,
    Act,
    Given,
    Refusal,
    acme_response,
    at_finish,
    on_acme,
)
from tests.connections.saml_helpers import idp_response
from tests.factories import UserFactory
from tests.saml_idp import NAMEID_UNSPECIFIED

CASES: list[Refusal] = []

# --- attribute_missing, and the identity rules (at the finish step) -----------------------------


def _for(email: Callable[[Given], str]) -> Callable[[Given], bytes]:
    """acme's IdP-initiated response for the email ``email(given)`` names."""
    return lambda given: idp_response(given.acme, email(given))


def _scim_connection(given: Given) -> None:
    connection_update(connection=given.acme.connection, provisioning="scim")


def _unknown_user_on_scim(given: Given) -> Act:
    _scim_connection(given)
    return at_finish(acme_response())(given)


def _user_not_from_scim_on_scim(given: Given) -> Act:
    _scim_connection(given)
    assert given.acme.member.source != UserSource.SCIM
    return at_finish(_for(lambda given: given.acme.member.email))(given)


def _deactivated(given: Given) -> Act:
    given.acme.member.is_active = False
    given.acme.member.save(update_fields=["is_active"])
    return at_finish(_for(lambda given: given.acme.member.email))(given)


def _other_company_user(given: Given) -> Act:
    # An address in no company's domain: only the user rule can refuse it.
    given.acme = given.acme_without_domains
    given.contractor = UserFactory(company=given.globex.company, email=FREELANCER)
    return at_finish(_for(lambda given: FREELANCER))(given)


def _other_company_user_untouched(given: Given, event: AuditEvent) -> None:
    given.contractor.refresh_from_db()
    assert given.contractor.company == given.globex.company


def _held_elsewhere(email: Callable[[Given], str]) -> Callable[[Given], Act]:
    """A company without domains signs in an address in globex's domain (or a subdomain of it):
    refused before any user is looked up, whether globex has such a user or not."""

    def arrange(given: Given) -> Act:
        given.acme = given.acme_without_domains
        return at_finish(_for(email))(given)

    return arrange


def _staff_user(given: Given) -> Act:
    given.acme = given.acme_without_domains
    return at_finish(_for(lambda given: given.staff_user.email))(given)


FREELANCER = "contractor@freelance.example"

NOT_AN_EMAIL = {
    "no-email": {"givenName": "John", "familyName": "Doe", "user_name": "jdoe"},
    "email-not-an-email": {"email": "not an email"},
}
HELD_BY_GLOBEX = {
    "held-by-another-company-new-user": "cfo@globex.com",
    "held-by-another-company-subdomain": "cfo@eu.globex.com",
    "held-by-another-company-full-width": "cfo@ｇｌｏｂｅｘ.com",
}
OUTSIDERS = {
    "outside-the-domains": "newhire@elsewhere.example",
    "lookalike-subdomain": "newhire@acme.com.evil.example",
}

CASES += [
    *(
        Refusal(
            "attribute_missing",
            f"{name}",
            at_finish(
                lambda given, attributes=attributes: idp_response(
                    given.acme, "jdoe", name_id_format=NAMEID_UNSPECIFIED, attributes=attributes
                )
            ),
        )
        for name, attributes in NOT_AN_EMAIL.items()
    ),
    Refusal(
        "user_not_provisioned",
        "unknown-user-on-a-scim-connection",
        _unknown_user_on_scim,
        on=on_acme,
        never_created=(NEW,),
    ),
    Refusal(
        "user_not_provisioned",
        "user-not-created-by-scim",
        _user_not_from_scim_on_scim,
    ),
    Refusal("user_deactivated", "", _deactivated),
    Refusal(
        "user_other_company",
        "another-companys-user",
        _other_company_user,
        needs=("acme_without_domains", "globex", "client"),
        then=_other_company_user_untouched,
    ),
    Refusal(
        "user_other_company",
        "a-staff-user",
        _staff_user,
        needs=("acme_without_domains", "staff_user", "client"),
    ),
    # A domain is its holder's alone: a company without domains cannot take a held one, be it
    # the address of a globex user, a new one, or one at a subdomain of globex.com.
    Refusal(
        "email_domain_not_allowed",
        "held-by-another-company-existing-user",
        _held_elsewhere(lambda given: given.globex.member.email),
        needs=("acme_without_domains", "globex", "client"),
    ),
    *(
        Refusal(
            "email_domain_not_allowed",
            name,
            _held_elsewhere(lambda given, email=email: email),
            needs=("acme_without_domains", "globex", "client"),
            never_created=(email,),
        )
        for name, email in HELD_BY_GLOBEX.items()
    ),
    # With acme's domains in place the domain rule answers first, without saying whose the
    # address is: globex.com and sso.test are not acme's domains.
    Refusal(
        "email_domain_not_allowed",
        "another-companys-user",
        at_finish(_for(lambda given: given.globex.member.email)),
        needs=("acme", "globex", "staff_user", "client"),
    ),
    Refusal(
        "email_domain_not_allowed",
        "a-staff-user",
        at_finish(_for(lambda given: given.staff_user.email)),
        needs=("acme", "globex", "staff_user", "client"),
    ),
    *(
        Refusal(
            "email_domain_not_allowed",
            f"{name}",
            at_finish(_for(lambda given, email=email: email)),
            never_created=(email,),
        )
        for name, email in OUTSIDERS.items()
    ),
]
