"""The attack corpus: signature wrapping, smuggled assertions, comments, DTDs and entities, size;
and company A's IdP against company B's connection.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from lxml import etree

from audit.models import AuditEvent
from connections.services import connection_update
from tests.connections.refusals.cases import (
    NEW,
    Act,
    Given,
    Refusal,
    acme_fingerprint,
    at_acs,
    fingerprints,
    on_globex,
)
from tests.connections.saml_helpers import (
    idp_for,
    idp_response,
    local,
    post_to_acs,
    signed_in_email,
)
from tests.saml_idp import (
    ATTACKER_NAME_ID,
    NS_SAML,
    NS_SAMLP,
    STATUS_RESPONDER,
    WRAP_MODES,
    add_second_unsigned_assertion,
    comment_in_name_id,
    entity_expansion,
    external_entity,
    okta_attributes,
    with_doctype,
    wrap_assertion,
)

CASES: list[Refusal] = []

# --- the attack corpus: signature wrapping, smuggled assertions, comments, DTDs, size -------------


def _wrapped(mode: str, *, sign_response: bool, reuse_id: bool) -> Callable[[Given], bytes]:
    def make(given: Given) -> bytes:
        xml = idp_response(given.acme, NEW, sign_response=sign_response)
        forged_id = etree.fromstring(xml).find(f"{{{NS_SAML}}}Assertion").get("ID")
        return wrap_assertion(xml, mode, forged_id=forged_id if reuse_id else None)

    return make


def _wrap_cases():
    for mode in WRAP_MODES:
        signings = [True] if mode == "response_wrap_signature_object" else [False, True]
        for sign_response in signings:
            for reuse_id in (False, True):
                label = f"{mode}-{'both-signed' if sign_response else 'assertion-signed'}"
                yield Refusal(
                    "saml_malformed",
                    f"wrapped-{label}{'-same-id' if reuse_id else ''}",
                    at_acs(_wrapped(mode, sign_response=sign_response, reuse_id=reuse_id)),
                    never_created=(NEW, ATTACKER_NAME_ID),
                )


def _signed_failure_around_a_forged_assertion(given: Given) -> bytes:
    """A wrap with exactly one assertion: the IdP's signed (failure) Response sits in the
    Extensions of a forged Response whose only assertion is unsigned."""
    signed_failure = etree.fromstring(
        idp_response(given.acme, NEW, status_code=STATUS_RESPONDER, sign_response=True)
    )
    unsigned = etree.fromstring(idp_response(given.acme, ATTACKER_NAME_ID, sign_assertion=False))
    extensions = etree.SubElement(unsigned, f"{{{NS_SAMLP}}}Extensions")
    extensions.append(signed_failure)
    unsigned.find(f"{{{NS_SAML}}}Issuer").addnext(extensions)
    return etree.tostring(unsigned, xml_declaration=True, encoding="UTF-8")


def _comment_in_the_name_id(sign_response: bool) -> Callable[[Given], bytes]:
    """The attacker owns member@acme.com.evil.example at the IdP and hides the tail in a
    comment, hoping to be read as member@acme.com."""

    def make(given: Given) -> bytes:
        xml = idp_response(given.acme, "member@acme.com.evil.example", sign_response=sign_response)
        return comment_in_name_id(xml, visible=given.acme.member.email)

    return make


def _member_not_signed_in(given: Given, event: AuditEvent) -> None:
    assert signed_in_email(given.client) != given.acme.member.email


DTDS = {
    "dtd": with_doctype,
    "entity-expansion": lambda xml: entity_expansion(xml),
    "small-entity-expansion": lambda xml: entity_expansion(xml, depth=2, width=3, resign=None),
    "external-entity": lambda xml: external_entity(xml),
}


def _oversized_post(encoding: str) -> Callable[[Given], Act]:
    def arrange(given: Given) -> Act:
        data = {"SAMLResponse": "A" * (600 * 1024), "RelayState": "/"}
        url = local(given.acme.connection.acs_url)
        if encoding == "urlencoded":
            return lambda: given.client.post(
                url, urlencode(data), content_type="application/x-www-form-urlencoded"
            )
        return lambda: given.client.post(url, data)

    return arrange


CASES += [
    *_wrap_cases(),
    Refusal(
        "saml_malformed",
        "signed-failure-wrapped-around-a-forged-assertion",
        at_acs(_signed_failure_around_a_forged_assertion),
        never_created=(ATTACKER_NAME_ID,),
    ),
    *(
        Refusal(
            "saml_malformed",
            f"second-unsigned-assertion-{label}",
            at_acs(
                lambda given, name_id=name_id: add_second_unsigned_assertion(
                    idp_response(given.acme, NEW), name_id=name_id
                )
            ),
            never_created=(NEW, ATTACKER_NAME_ID),
        )
        for label, name_id in [("same-subject", None), ("forged", ATTACKER_NAME_ID)]
    ),
    *(
        Refusal(
            "saml_malformed",
            f"comment-in-the-name-id-{label}",
            at_acs(_comment_in_the_name_id(sign_response)),
            then=_member_not_signed_in,
        )
        for label, sign_response in [("assertion-signed", False), ("both-signed", True)]
    ),
    *(
        Refusal(
            "saml_malformed",
            f"{name}",
            at_acs(lambda given, make=make: make(idp_response(given.acme, NEW))),
            never_created=(NEW,),
        )
        for name, make in DTDS.items()
    ),
    Refusal(
        # Validly signed for a parser that expands entities: still refused for the DTD.
        "saml_malformed",
        "entity-expansion-resigned-over-the-expanded-text",
        at_acs(
            lambda given: entity_expansion(
                idp_response(given.acme, NEW),
                depth=3,
                width=4,
                resign=given.acme.connection.keypair,
            )
        ),
        never_created=(NEW,),
    ),
    *(
        Refusal(
            "saml_malformed",
            f"oversized-post-{encoding}",
            _oversized_post(encoding),
            status=400,
        )
        for encoding in ("multipart", "urlencoded")
    ),
    Refusal(
        # Validly signed, under the POST limit, but far larger than any real response.
        "saml_malformed",
        "signed-response-padded-past-the-size-limit",
        at_acs(
            lambda given: idp_response(
                given.acme, NEW, attributes=okta_attributes(NEW, division="x" * (300 * 1024))
            )
        ),
        never_created=(NEW,),
    ),
]


# --- company A's IdP against company B's ACS ----------------------------------------------------


def _acme_response_at_globex(given: Given) -> Act:
    """A genuine acme response replayed at globex: globex trusts another issuer."""
    xml = idp_response(given.acme, NEW)
    return lambda: post_to_acs(given.client, given.globex.connection, xml)


def _acme_signing_for_globex(*, as_globex_issuer: bool = False, globex_without_issuer=False):
    """acme's IdP (its admin controls it) addresses a response to globex's ACS and audience,
    for globex's admin: under its own issuer, under globex's, or to a globex connection that
    trusts its certificate alone (no issuer configured)."""

    def arrange(given: Given) -> Act:
        g = given.globex.connection
        if globex_without_issuer:
            g = connection_update(connection=g, idp_entity_id="")
        entity_id = g.idp_entity_id if as_globex_issuer else None
        xml = idp_for(given.acme, entity_id=entity_id).response(
            acs_url=g.acs_url,
            audience=g.sp_entity_id,
            name_id=given.globex.admin.email,
            attributes=okta_attributes(given.globex.admin.email),
        )
        return lambda: post_to_acs(given.client, g, xml)

    return arrange


def _globex_admin_not_signed_in(given: Given, event: AuditEvent) -> None:
    assert signed_in_email(given.client) != given.globex.admin.email


def _no_issuer_recorded(given: Given, event: AuditEvent) -> None:
    given.globex.connection.refresh_from_db()
    assert given.globex.connection.observed_idp_entity_id == ""


def _acme_finish_cookie_at_globex(given: Given) -> Act:
    acs = post_to_acs(given.client, given.acme.connection, idp_response(given.acme, NEW))
    assert acs.status_code == 303
    return lambda: given.client.get("/sso/globex/finish/")


ACME_AND_GLOBEX = ("acme", "globex", "client")

CASES += [
    Refusal(
        "saml_issuer_mismatch",
        "acme-response-at-globex",
        _acme_response_at_globex,
        needs=ACME_AND_GLOBEX,
        on=on_globex,
        never_created=(NEW,),
    ),
    Refusal(
        "saml_issuer_mismatch",
        "acme-idp-signing-for-globex",
        _acme_signing_for_globex(),
        needs=ACME_AND_GLOBEX,
        on=on_globex,
        then=_globex_admin_not_signed_in,
    ),
    Refusal(
        "saml_signature_invalid",
        "acme-key-impersonating-the-globex-issuer",
        _acme_signing_for_globex(as_globex_issuer=True),
        needs=ACME_AND_GLOBEX,
        on=on_globex,
        then=fingerprints(
            lambda given: [given.globex.connection.keypair.fingerprint], acme_fingerprint
        ),
    ),
    Refusal(
        # Where globex's certificate alone is the trust anchor, acme's signature still fails.
        "saml_signature_invalid",
        "acme-response-to-a-globex-connection-without-issuer",
        _acme_signing_for_globex(globex_without_issuer=True),
        needs=ACME_AND_GLOBEX,
        on=on_globex,
        then=_no_issuer_recorded,
    ),
    Refusal(
        "saml_expired",
        "acme-finish-cookie-at-globex",
        _acme_finish_cookie_at_globex,
        needs=ACME_AND_GLOBEX,
        on=on_globex,
        never_created=(NEW,),
    ),
]
