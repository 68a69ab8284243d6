"""The in-process crypto under the sign-in path (``connections.saml_crypto``), below what the
refusal corpus shows: one libxml2 for lxml and xmlsec (checked at start-up), a parser that
expands nothing and registers no ID, the ID registered on the signed element only, and an
xmlsec context that itself refuses what the signature profile refuses.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import xmlsec
from django.core.exceptions import ImproperlyConfigured
from lxml import etree

from connections import saml_crypto
from tests.certs import make_keypair
from tests.commands import run_python
from tests.saml_idp import (
    ALG_C14N,
    ALG_ENVELOPED,
    NS_SAML,
    TestIdP,
    okta_attributes,
    sign_element,
)

EMAIL = "ada@acme.com"


@pytest.fixture(scope="module")
def idp() -> TestIdP:
    return TestIdP(entity_id="http://www.okta.com/crypto", keypair=make_keypair("crypto-idp"))


@pytest.fixture(scope="module")
def trusted(idp) -> saml_crypto.TrustedKeys:
    return saml_crypto.TrustedKeys.from_certificates([(idp.cert_pem.decode(), "configured")])


def _response(idp: TestIdP, **options) -> bytes:
    return idp.response(
        acs_url="https://sso.test/sso/acme/acs/",
        audience="https://sso.test/sso/acme/metadata/",
        name_id=EMAIL,
        attributes=okta_attributes(EMAIL),
        **options,
    )


def _registered(root: etree._Element, value: str) -> list[etree._Element]:
    """The elements XPath's id() finds for ``value``: the document's ID table."""
    return root.getroottree().xpath("id($value)", value=value)


# --- one libxml2 ---------------------------------------------------------------------------


def test_lxml_and_xmlsec_run_the_same_libxml2_here():
    assert xmlsec.get_libxml_version() == etree.LIBXML_VERSION
    saml_crypto.require_same_libxml2()


def test_different_libxml2_versions_are_refused_naming_both():
    assert saml_crypto.libxml2_mismatch((2, 14, 6), (2, 14, 6)) is None
    with pytest.raises(ImproperlyConfigured) as refused:
        saml_crypto.require_same_libxml2((2, 14, 6), (2, 9, 14))
    assert "lxml runs libxml2 2.14.6 but the xmlsec binding runs libxml2 2.9.14" in str(
        refused.value
    )


def _start(prelude: str) -> subprocess.CompletedProcess[str]:
    """Start Django in a fresh interpreter after ``prelude`` (which spoils lxml's version)."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.test_settings")
    return run_python(f"{prelude}; import django; django.setup()", env=env)


@pytest.mark.parametrize(
    ("prelude", "message"),
    [
        # The binding's own check, at its import: we name lxml's version and stop.
        (
            "import lxml.etree; lxml.etree.LIBXML_VERSION = (2, 9, 1)",
            "The xmlsec binding cannot load next to lxml (which runs libxml2 2.9.1)",
        ),
        # A binding that loads anyway (or a check it no longer makes): ours.
        (
            "import xmlsec, lxml.etree; lxml.etree.LIBXML_VERSION = (2, 9, 1)",
            "lxml runs libxml2 2.9.1 but the xmlsec binding runs libxml2",
        ),
    ],
    ids=["binding-refuses-to-load", "versions-differ"],
)
def test_a_process_with_two_libxml2s_stops_at_start_up(prelude, message):
    result = _start(prelude)

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    assert message in last_line


# --- the parser and the IDs ----------------------------------------------------------------


def test_the_parser_expands_no_entity_and_reads_no_file():
    internal = b'<!DOCTYPE r [<!ENTITY e "expanded">]><r>&e;</r>'
    external = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'

    assert "expanded" not in "".join(saml_crypto.parse(internal).itertext())
    assert "root:" not in etree.tostring(saml_crypto.parse(external)).decode()
    with pytest.raises(saml_crypto.XmlRefused):
        saml_crypto.parse(b"<r>&undeclared;</r>")


def test_the_parse_registers_no_id_and_verifying_registers_only_the_signed_elements(idp, trusted):
    root = saml_crypto.parse(_response(idp, sign_response=True))
    root.find(f"{{{NS_SAML}}}Issuer").set("{http://www.w3.org/XML/1998/namespace}id", "xml-id")
    root = saml_crypto.parse(etree.tostring(root))  # xml:id too: the parser registers nothing
    assertion = root.find(f"{{{NS_SAML}}}Assertion")
    response_id, assertion_id = root.get("ID"), assertion.get("ID")
    assert _registered(root, response_id) == _registered(root, assertion_id) == []
    assert _registered(root, "xml-id") == []

    saml_crypto.verify_enveloped(assertion, trusted)

    assert _registered(root, assertion_id) == [assertion]
    assert _registered(root, response_id) == []


def test_a_signature_that_references_an_unregistered_id_does_not_verify(idp, trusted):
    """The Response's signature is checked with the Response's ID registered only: libxmlsec1
    resolves nothing else, even where the profile check were skipped."""
    root = saml_crypto.parse(_response(idp, sign_assertion=False, sign_response=True))
    signature = root.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    profile = saml_crypto.check_signature_profile(signature, root)
    context = saml_crypto._context(trusted.keys[0].key, profile)

    with pytest.raises(xmlsec.Error):
        context.verify(signature)  # no ID registered at all


def test_the_xmlsec_context_itself_refuses_transforms_outside_the_profile(idp, trusted):
    """Defence in depth: given an Okta-shaped profile, libxmlsec1 refuses a (valid) signature
    with inclusive c14n as a transform, even where the tree check were skipped. (It enables a
    set of transforms, not a sequence: the count is the tree check's alone.)"""
    root = saml_crypto.parse(_response(idp, sign_assertion=False))
    assertion = root.find(f"{{{NS_SAML}}}Assertion")
    sign_element(assertion, idp.keypair, transforms=(ALG_ENVELOPED, ALG_C14N))
    root = saml_crypto.parse(etree.tostring(root))
    assertion = root.find(f"{{{NS_SAML}}}Assertion")
    signature = assertion.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    okta = saml_crypto.SignatureProfile(
        signature_transform=xmlsec.Transform.RSA_SHA256,
        digest_transform=xmlsec.Transform.SHA256,
        key_kind="rsa",
    )
    context = saml_crypto._context(trusted.keys[0].key, okta)
    context.register_id(assertion, "ID")

    with pytest.raises(xmlsec.Error):
        context.verify(signature)
    with pytest.raises(saml_crypto.AlgorithmRefused):
        saml_crypto.verify_enveloped(assertion, trusted)


def test_every_configured_key_is_tried_and_only_those(idp, trusted):
    other = make_keypair("crypto-other", slot="crypto-other")
    ec = make_keypair("crypto-ec", slot="crypto-ec", curve=True)
    xml = _response(idp)
    rotation = saml_crypto.TrustedKeys.from_certificates(
        [
            (ec.cert_pem.decode(), "ec"),
            (other.cert_pem.decode(), "other"),
            (idp.cert_pem.decode(), "idp"),
        ]
    )
    assert rotation.fingerprints == ["ec", "other", "idp"]

    root = saml_crypto.parse(xml)
    saml_crypto.verify_enveloped(root.find(f"{{{NS_SAML}}}Assertion"), rotation)

    alone = saml_crypto.TrustedKeys.from_certificates([(other.cert_pem.decode(), "other")])
    root = saml_crypto.parse(xml)
    with pytest.raises(saml_crypto.SignatureInvalid, match="signature value mismatch"):
        saml_crypto.verify_enveloped(root.find(f"{{{NS_SAML}}}Assertion"), alone)


def test_each_signature_profile_is_read_once_and_verifying_uses_it(idp, trusted, monkeypatch):
    """``inspect_response`` reads the profile of each signature; the verifier is handed it
    for that very element instead of reading the tree again (and reads it itself otherwise)."""
    from connections.saml_inspection import inspect_response

    read = []
    check = saml_crypto.check_signature_profile
    monkeypatch.setattr(
        saml_crypto,
        "check_signature_profile",
        lambda signature, element: read.append(element) or check(signature, element),
    )
    inspected = inspect_response(_response(idp, sign_response=True))
    assert read == [inspected.root, inspected.assertion]

    for element, profile in inspected.signatures_to_verify:
        saml_crypto.verify_enveloped(element, trusted, profile=profile)
    assert read == [inspected.root, inspected.assertion]

    saml_crypto.verify_enveloped(inspected.assertion, trusted)
    assert read == [inspected.root, inspected.assertion, inspected.assertion]
