"""Refused sign-ins: saml_signature_missing, saml_signature_invalid, saml_issuer_mismatch,
saml_audience_mismatch, saml_destination_mismatch.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from audit.models import AuditEvent
from connections.models import (
    PendingAuthnRequest,
    SeenAssertion,
)
from connections.services import (
    connection_add_certificate,
    connection_remove_certificate,
)
from tests.certs import make_keypair
from tests.connections.refusals.cases import (
    NEW,
    Act,
    Given,
    Refusal,
    accepted,
    acme_fingerprint,
    acme_response,
    at_acs,
    fingerprints,
    on_acme,
)
from tests.connections.saml_helpers import (
    idp_for,
    idp_response,
    post_to_acs,
    signed_in_email,
    start_login,
)
from tests.saml_idp import (
    okta_attributes,
    resign_with,
    sign_element,
    strip_signatures,
    tamper,
)

CASES: list[Refusal] = []

# --- saml_signature_missing ---------------------------------------------------------------------


def _stripped(*, sign_response: bool, one_by_one: bool) -> Callable[[Given], bytes]:
    def make(given: Given) -> bytes:
        xml = idp_response(given.acme, NEW, sign_response=sign_response)
        if one_by_one:
            return strip_signatures(strip_signatures(xml, "assertion"), "response")
        return strip_signatures(xml)

    return make


CASES += [
    Refusal(
        "saml_signature_missing",
        "assertion-signature-stripped",
        at_acs(_stripped(sign_response=False, one_by_one=False)),
        never_created=(NEW,),
    ),
    Refusal(
        "saml_signature_missing",
        "both-stripped",
        at_acs(_stripped(sign_response=True, one_by_one=False)),
        never_created=(NEW,),
    ),
    Refusal(
        "saml_signature_missing",
        "both-stripped-one-by-one",
        at_acs(_stripped(sign_response=True, one_by_one=True)),
        never_created=(NEW,),
    ),
    Refusal(
        "saml_signature_missing",
        "unsigned",
        at_acs(acme_response(sign_assertion=False)),
        never_created=(NEW,),
    ),
]


# --- saml_signature_invalid ---------------------------------------------------------------------


def _tampered(given: Given) -> bytes:
    return tamper(idp_response(given.acme, NEW), NEW, given.acme.admin.email)


def _resigned_with_keyinfo(*, sign_assertion: bool, sign_response: bool):
    def make(given: Given) -> bytes:
        forged = tamper(idp_response(given.acme, NEW), NEW, given.acme.admin.email)
        return resign_with(
            forged, given.attacker_key, sign_assertion=sign_assertion, sign_response=sign_response
        )

    return make


def _resigned_then(given: Given, event: AuditEvent) -> None:
    # What support needs: the certificate configured next to the one the message carried.
    fingerprints(acme_fingerprint, lambda given: [given.attacker_key.fingerprint])(given, event)
    assert signed_in_email(given.client) != given.acme.admin.email


def _look_alike(given: Given) -> bytes:
    """Only the configured certificate counts, not a look-alike with the same name."""
    given.look_alike = make_keypair("acme.okta.example", slot="look-alike")
    return resign_with(idp_response(given.acme, NEW), given.look_alike)


def _look_alike_then(given: Given, event: AuditEvent) -> None:
    assert event.details["certificates_in_message"] == [given.look_alike.fingerprint]


def _another_key_inside(given: Given) -> bytes:
    """A signature that does not verify is never ignored, even beside one that does."""
    root = etree.fromstring(idp_response(given.acme, NEW))
    sign_element(root, given.attacker_key)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _another_key_inside_then(given: Given, event: AuditEvent) -> None:
    assert given.attacker_key.fingerprint in event.details["certificates_in_message"]


def _removed_certificate(given: Given) -> Act:
    """After a rotation completes, the old key is refused at once (no stale cached config)."""
    acme, client = given.acme, given.client
    old = acme.connection.certificates.get()
    given.new_key = make_keypair("acme.okta.example", slot="acme-rotated")
    # Warm the cached configuration with the old certificate first.
    accepted(
        client, acme.connection, idp_response(acme, acme.member.email), email=acme.member.email
    )
    client.logout()
    connection_add_certificate(connection=acme.connection, certificate_data=given.new_key.cert_pem)
    connection_remove_certificate(certificate=old)
    return at_acs(acme_response())(given)


def _removed_certificate_then(given: Given, event: AuditEvent) -> None:
    assert event.details["configured_certificates"] == [given.new_key.fingerprint]


def _refused_without_using_up_the_request(given: Given) -> Act:
    """Nothing but an audit event is written by a refusal: the genuine answer still works."""
    start, given.request = start_login(given.client, given.acme.connection, next_path="/after")
    given.start = start
    forged = resign_with(
        idp_for(given.acme).respond_to(
            start["Location"], name_id=NEW, attributes=okta_attributes(given.acme.admin.email)
        ),
        given.attacker_key,
    )
    return lambda: post_to_acs(given.client, given.acme.connection, forged)


def _the_request_still_answers(given: Given, event: AuditEvent) -> None:
    assert PendingAuthnRequest.objects.filter(request_id=given.request.id).exists()
    assert not SeenAssertion.objects.exists()
    done = accepted(
        given.client,
        given.acme.connection,
        idp_for(given.acme).respond_to(
            given.start["Location"], name_id=NEW, attributes=okta_attributes(NEW)
        ),
    )
    assert done["Location"] == "/after"


WITH_ATTACKER = ("acme", "attacker_key", "client")

CASES += [
    Refusal(
        "saml_signature_invalid",
        "tampered-after-signing",
        at_acs(_tampered),
        on=on_acme,
        never_created=(NEW,),
        then=fingerprints(acme_fingerprint, acme_fingerprint),
    ),
    *(
        Refusal(
            "saml_signature_invalid",
            f"resigned-with-keyinfo-{label}",
            at_acs(_resigned_with_keyinfo(sign_assertion=assertion, sign_response=response)),
            needs=WITH_ATTACKER,
            on=on_acme,
            never_created=(NEW,),
            then=_resigned_then,
        )
        for label, assertion, response in [
            ("assertion", True, False),
            ("response", False, True),
            ("both", True, True),
        ]
    ),
    Refusal(
        "saml_signature_invalid",
        "look-alike-certificate-subject",
        at_acs(_look_alike),
        never_created=(NEW,),
        then=_look_alike_then,
    ),
    Refusal(
        "saml_signature_invalid",
        "another-key-without-keyinfo",
        at_acs(
            lambda given: resign_with(
                idp_response(given.acme, NEW), given.attacker_key, include_key_info=False
            )
        ),
        needs=WITH_ATTACKER,
        never_created=(NEW,),
        then=fingerprints(acme_fingerprint, lambda given: []),
    ),
    Refusal(
        "saml_signature_invalid",
        "valid-assertion-in-a-response-signed-by-another-key",
        at_acs(_another_key_inside),
        needs=WITH_ATTACKER,
        never_created=(NEW,),
        then=_another_key_inside_then,
    ),
    *(
        Refusal(
            "saml_signature_invalid",
            f"rsa-sha1-{label}",
            at_acs(acme_response(algorithm="rsa-sha1", sign_response=sign_response)),
            never_created=(NEW,),
        )
        for label, sign_response in [("assertion", False), ("both", True)]
    ),
    Refusal(
        "saml_signature_invalid",
        "removed-certificate",
        _removed_certificate,
        never_created=(NEW,),
        then=_removed_certificate_then,
    ),
    Refusal(
        "saml_signature_invalid",
        "does-not-use-up-the-request",
        _refused_without_using_up_the_request,
        needs=WITH_ATTACKER,
        then=_the_request_still_answers,
    ),
]


# --- saml_issuer_mismatch -----------------------------------------------------------------------


def _response_issuer_edited(given: Given) -> bytes:
    """Only the assertion is signed, so the Response's Issuer can be edited freely."""
    issuer = given.acme.connection.idp_entity_id
    return tamper(
        idp_response(given.acme, NEW), f">{issuer}<", ">http://www.okta.com/someone-else<", count=1
    )


CASES += [
    Refusal(
        "saml_issuer_mismatch",
        "another-issuer",
        at_acs(acme_response(issuer="http://www.okta.com/someone-else")),
        never_created=(NEW,),
    ),
    Refusal(
        "saml_issuer_mismatch",
        "response-issuer-differs-from-assertion-issuer",
        at_acs(_response_issuer_edited),
        never_created=(NEW,),
    ),
]


# --- saml_audience_mismatch and saml_destination_mismatch ---------------------------------------

AUDIENCES = {
    "other-app": {"audience": "https://other-app.example/saml/metadata"},
    "other-connection": {"audience": "https://sso.test/sso/globex/metadata/"},
    "missing": {"include_audience": False},
}
DESTINATIONS = {
    "destination-other-connection": {"destination": "https://sso.test/sso/globex/acs/"},
    "destination-other-site": {"destination": "https://evil.example/acs"},
    "destination-missing": {"include_destination": False},
    "recipient-wrong": {"recipient": "https://sso.test/sso/globex/acs/"},
    "recipient-missing": {"include_recipient": False},
}

CASES += [
    *(
        Refusal(
            "saml_audience_mismatch",
            f"{name}",
            at_acs(acme_response(**options)),
            never_created=(NEW,),
        )
        for name, options in AUDIENCES.items()
    ),
    *(
        Refusal(
            "saml_destination_mismatch",
            f"{name}",
            at_acs(acme_response(**options)),
            never_created=(NEW,),
        )
        for name, options in DESTINATIONS.items()
    ),
]
