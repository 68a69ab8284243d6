"""The structural reading of a SAML Response: one assertion (decrypted first when encrypted),
signatures only where the profile allows them, bearer confirmations, the AuthnStatement, the
status; the values the sign-in checks, taken from the tree of the one parse."""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import quoteattr

from lxml import etree

from connections import saml_crypto, saml_sp_crypto
from connections.certificates import format_fingerprint
from connections.exceptions import (
    SamlDecryptionFailed,
    SamlInResponseToMismatch,
    SamlMalformed,
    SamlSignatureAlgorithmRefused,
    SamlSignatureInvalid,
    SamlSignatureMissing,
)
from connections.saml_inspection.gate import (
    BEARER,
    DS,
    SAML,
    SAMLP,
    STATUS_SUCCESS,
    Element,
    check_ids_unique,
    check_raw,
    check_version,
    parse_instant,
    parse_message,
    qname,
    text_of,
)

# Elements we cannot read (an EncryptedAssertion is decrypted first, and only a direct child of
# the Response) or whose meaning we do not know: an assertion with a condition it cannot evaluate
# is invalid (saml-core 2.5.1.2).
_UNSUPPORTED = ("EncryptedAssertion", "EncryptedID", "EncryptedAttribute", "Condition")


@dataclass(frozen=True)
class InspectedResponse:
    xml: bytes
    # The tree that is read; for an encrypted assertion, a copy of the received tree with the
    # EncryptedAssertion replaced by the assertion decrypted from it.
    root: Element
    assertion: Element | None
    response_id: str
    response_issuer: str | None
    assertion_issuer: str
    destination: str | None
    in_response_to: str | None
    status_code: str
    status_message: str
    assertion_id: str
    response_signed: bool
    assertion_signed: bool
    audiences: tuple[str, ...]
    recipients: tuple[str, ...]
    not_before: datetime | None
    not_on_or_after: datetime | None
    confirmation_not_on_or_after: tuple[datetime, ...]
    confirmation_not_before: tuple[datetime, ...] = ()
    # IssueInstant of the Response and of the Assertion.
    issue_instants: tuple[datetime, ...] = ()
    session_not_on_or_after: datetime | None = None
    # The received tree, whose Response signature covers the EncryptedAssertion as received.
    signed_root: Element | None = None
    encrypted: bool = False
    # What ``saml_crypto.check_signature_profile`` found for the Response's and the Assertion's
    # signature in ``root``, so that verifying does not read them a second time.
    response_profile: saml_crypto.SignatureProfile | None = None
    assertion_profile: saml_crypto.SignatureProfile | None = None

    @property
    def status_ok(self) -> bool:
        return self.status_code == STATUS_SUCCESS

    @property
    def key_info_fingerprints(self) -> tuple[str, ...]:
        """SHA-256 fingerprints of the certificates the message carries. Never trusted: shown
        to support next to the configured ones when a signature does not verify."""
        prints = []
        for node in self.root.iter(qname(DS, "X509Certificate")):
            try:
                der = base64.b64decode("".join((node.text or "").split()), validate=True)
            except (binascii.Error, ValueError):
                continue
            prints.append(format_fingerprint(hashlib.sha256(der).digest()))
        return tuple(dict.fromkeys(prints))

    @property
    def signed_elements(self) -> tuple[Element, ...]:
        """The elements whose signatures must verify: the Response's first (it covers the
        assertion), then the Assertion's."""
        return tuple(element for element, _ in self.signatures_to_verify)

    @property
    def signatures_to_verify(
        self,
    ) -> tuple[tuple[Element, saml_crypto.SignatureProfile | None], ...]:
        """Each signed element with the profile already checked on that very element (None:
        the verifier checks it). The Response of an encrypted assertion is verified in the
        received tree, not in the copy the profiles were read from: its profile is read again."""
        signed = []
        if self.response_signed:
            if self.signed_root is not None and self.signed_root is not self.root:
                signed.append((self.signed_root, None))
            else:
                signed.append((self.root, self.response_profile))
        if self.assertion_signed and self.assertion is not None:
            signed.append((self.assertion, self.assertion_profile))
        return tuple(signed)


Decrypt = Callable[[Element], bytes]


def inspect_response(xml: bytes, *, decrypt: Decrypt | None = None) -> InspectedResponse:
    """The Response, read. An ``EncryptedAssertion`` is decrypted with ``decrypt`` (the
    connection's SP keys; it raises ``saml_sp_crypto.DecryptionRefused``) and the assertion in
    it goes through every check a plain one does, its plaintext through the same gate and parser;
    it must be signed itself (signed, then encrypted)."""
    signed_root = parse_message(xml, expected=("Response",))
    root = _decrypted(signed_root, decrypt)
    unsupported = next(root.iter(*(qname(SAML, name) for name in _UNSUPPORTED)), None)
    if unsupported is not None:
        raise SamlMalformed(extra={"reason": f"{unsupported.tag} is not supported"})
    encrypted = root is not signed_root

    status_code, status_message = _status(root)
    assertions = list(root.iter(qname(SAML, "Assertion")))
    if status_code != STATUS_SUCCESS and not assertions:
        return _failure(xml, root, status_code, status_message)
    if len(assertions) != 1:
        raise SamlMalformed(
            extra={"reason": f"{len(assertions)} assertions; exactly one is allowed"}
        )
    assertion = assertions[0]
    if assertion.getparent() is not root:
        raise SamlMalformed(extra={"reason": "the assertion is not a direct child of the Response"})
    check_version(assertion)

    profiles = _check_signature_placement(root, assertion)
    response_signed, assertion_signed = root in profiles, assertion in profiles
    if not (response_signed or assertion_signed):
        raise SamlSignatureMissing(
            extra={"reason": "neither the response nor the assertion is signed"}
        )
    if encrypted and not assertion_signed:
        # The Response's signature covers only the ciphertext: the assertion must carry its own.
        raise SamlSignatureMissing(
            extra={"reason": "the encrypted assertion is not signed itself (sign, then encrypt)"}
        )

    conditions = assertion.find(qname(SAML, "Conditions"))
    confirmations = _bearer_confirmations(assertion)
    not_before = parse_instant(conditions.get("NotBefore")) if conditions is not None else None
    not_on_or_after = (
        parse_instant(conditions.get("NotOnOrAfter")) if conditions is not None else None
    )
    _check_window(not_before, not_on_or_after, "Conditions")
    return InspectedResponse(
        xml=xml,
        root=root,
        signed_root=signed_root,
        encrypted=encrypted,
        assertion=assertion,
        response_id=root.get("ID", ""),
        response_issuer=text_of(root.find(qname(SAML, "Issuer"))),
        assertion_issuer=text_of(assertion.find(qname(SAML, "Issuer"))) or "",
        destination=root.get("Destination"),
        in_response_to=_in_response_to(root, confirmations, response_signed=response_signed),
        status_code=status_code,
        status_message=status_message,
        assertion_id=assertion.get("ID", ""),
        response_signed=response_signed,
        assertion_signed=assertion_signed,
        response_profile=profiles.get(root),
        assertion_profile=profiles.get(assertion),
        audiences=tuple(
            text_of(audience) or ""
            for audience in assertion.findall(
                f"{qname(SAML, 'Conditions')}/{qname(SAML, 'AudienceRestriction')}/{qname(SAML, 'Audience')}"
            )
        ),
        recipients=tuple(data.get("Recipient", "") for data in confirmations),
        not_before=not_before,
        not_on_or_after=not_on_or_after,
        confirmation_not_on_or_after=tuple(
            t for t in (parse_instant(data.get("NotOnOrAfter")) for data in confirmations) if t
        ),
        confirmation_not_before=tuple(
            t for t in (parse_instant(data.get("NotBefore")) for data in confirmations) if t
        ),
        issue_instants=(_issue_instant(root), _issue_instant(assertion)),
        session_not_on_or_after=_authn_statement(assertion),
    )


def _decrypted(root: Element, decrypt: Decrypt | None) -> Element:
    """``root`` itself when it carries no EncryptedAssertion; else a copy in which the one
    EncryptedAssertion (a direct child, the only assertion) is replaced by its plaintext,
    parsed in its place as XML Encryption says (its namespace context)."""
    encrypted = list(root.iter(qname(SAML, "EncryptedAssertion")))
    if not encrypted:
        return root
    plain = next(root.iter(qname(SAML, "Assertion")), None)
    if len(encrypted) != 1 or plain is not None:
        count = len(encrypted) + (plain is not None)
        raise SamlMalformed(extra={"reason": f"{count} assertions; exactly one is allowed"})
    container = encrypted[0]
    if container.getparent() is not root:
        raise SamlMalformed(
            extra={"reason": "the encrypted assertion is not a direct child of the Response"}
        )
    if decrypt is None:
        raise SamlMalformed(extra={"reason": "encrypted assertions are not accepted here"})
    try:
        plaintext = decrypt(container)
    except saml_sp_crypto.KeyTransportRefused as error:
        raise SamlDecryptionFailed(
            "The identity provider encrypts with RSA PKCS#1 v1.5 key transport (rsa-1_5), which "
            "we refuse: it can be broken. Ask your IT team to choose RSA-OAEP as the key "
            "transport (key encryption) algorithm.",
            extra={"reason": error.reason},
        ) from None
    except saml_sp_crypto.DecryptionRefused as error:
        raise SamlDecryptionFailed(extra={"reason": error.reason}) from None
    check_raw(plaintext, "decrypted assertion")
    namespaces = " ".join(
        f"xmlns:{prefix}={quoteattr(uri)}" if prefix else f"xmlns={quoteattr(uri)}"
        for prefix, uri in container.nsmap.items()
    )
    try:
        wrapper = saml_crypto.parse(
            f"<decrypted {namespaces}>".encode() + plaintext + b"</decrypted>"
        )
    except saml_crypto.XmlRefused as error:
        raise SamlMalformed(
            extra={"reason": f"decrypted assertion: XML refused: {error}"}
        ) from None
    children = list(wrapper)
    if (
        len(children) != 1
        or children[0].tag != qname(SAML, "Assertion")
        or (wrapper.text or "").strip()
        or (children[0].tail or "").strip()
    ):
        raise SamlMalformed(extra={"reason": "the encrypted content is not one Assertion"})
    decrypted = copy.deepcopy(root)
    place = decrypted[root.index(container)]
    assertion = children[0]
    assertion.tail = place.tail
    decrypted.replace(place, assertion)
    check_ids_unique(decrypted)
    return decrypted


def _failure(xml: bytes, root: Element, status_code: str, status_message: str) -> InspectedResponse:
    return InspectedResponse(
        xml=xml,
        root=root,
        assertion=None,
        response_id=root.get("ID", ""),
        response_issuer=text_of(root.find(qname(SAML, "Issuer"))),
        assertion_issuer="",
        destination=root.get("Destination"),
        in_response_to=root.get("InResponseTo"),
        status_code=status_code,
        status_message=status_message,
        assertion_id="",
        response_signed=root.find(qname(DS, "Signature")) is not None,
        assertion_signed=False,
        audiences=(),
        recipients=(),
        not_before=None,
        not_on_or_after=None,
        confirmation_not_on_or_after=(),
    )


def _check_signature_placement(
    root: Element, assertion: Element
) -> dict[Element, saml_crypto.SignatureProfile]:
    """Signatures may stand only as direct children of the Response or the Assertion, each in
    the signature profile (one Reference to its own parent's ID, the accepted algorithms).
    Anything else is a wrapping attempt. Returns the profile of each signed one of the two."""
    signed = {}
    for signature in root.iter(qname(DS, "Signature")):
        parent = signature.getparent()
        if parent is not root and parent is not assertion:
            raise SamlMalformed(
                extra={"reason": "a signature stands outside the Response and Assertion"}
            )
        try:
            profile = saml_crypto.check_signature_profile(signature, parent)
        except saml_crypto.SignatureMisplaced as error:
            raise SamlMalformed(extra={"reason": error.reason}) from None
        except saml_crypto.WeakAlgorithm as error:
            # SHA-1 (OneLogin's default): said as such, not as a certificate problem.
            raise SamlSignatureAlgorithmRefused.of(error) from None
        except saml_crypto.AlgorithmRefused as error:
            raise SamlSignatureInvalid(extra={"reason": error.reason}) from None
        signed[parent] = profile
    return signed


def _status(root: Element) -> tuple[str, str]:
    status = root.find(qname(SAMLP, "Status"))
    if status is None:
        raise SamlMalformed(extra={"reason": "no Status"})
    code = status.find(qname(SAMLP, "StatusCode"))
    if code is None or not code.get("Value"):
        raise SamlMalformed(extra={"reason": "no StatusCode"})
    value = code.get("Value", "")
    nested = code.find(qname(SAMLP, "StatusCode"))
    if nested is not None and nested.get("Value"):
        value = f"{value} / {nested.get('Value')}"
    return value, text_of(status.find(qname(SAMLP, "StatusMessage"))) or ""


def _bearer_confirmations(assertion: Element) -> list[Element]:
    """The SubjectConfirmationData of each bearer confirmation (the Web SSO profile has no
    other method; one that is not bearer is refused rather than skipped)."""
    found = []
    subject = assertion.find(qname(SAML, "Subject"))
    if subject is None:
        raise SamlMalformed(extra={"reason": "the assertion has no Subject"})
    for confirmation in subject.iterfind(qname(SAML, "SubjectConfirmation")):
        if confirmation.get("Method") != BEARER:
            raise SamlMalformed(
                extra={"reason": f"subject confirmation {confirmation.get('Method')!r}"}
            )
        data = confirmation.find(qname(SAML, "SubjectConfirmationData"))
        if data is None:
            data = etree.Element("empty")
        _check_window(
            parse_instant(data.get("NotBefore")), parse_instant(data.get("NotOnOrAfter")), "Subject"
        )
        address = data.get("Address")
        if address is not None:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise SamlMalformed(extra={"reason": f"bad Address {address[:100]!r}"}) from None
        found.append(data)
    if not found:
        raise SamlMalformed(extra={"reason": "no bearer SubjectConfirmation"})
    return found


def _authn_statement(assertion: Element) -> datetime | None:
    """The one AuthnStatement a Web SSO assertion carries; returns its SessionNotOnOrAfter."""
    statements = assertion.findall(qname(SAML, "AuthnStatement"))
    if len(statements) != 1:
        raise SamlMalformed(
            extra={"reason": f"{len(statements)} AuthnStatements; exactly one is required"}
        )
    return parse_instant(statements[0].get("SessionNotOnOrAfter"))


def _check_window(start: datetime | None, end: datetime | None, where: str) -> None:
    if start and end and end <= start:
        raise SamlMalformed(extra={"reason": f"{where}: NotOnOrAfter is not after NotBefore"})


def _issue_instant(element: Element) -> datetime:
    instant = parse_instant(element.get("IssueInstant"))
    if instant is None:
        raise SamlMalformed(
            extra={"reason": f"{etree.QName(element).localname} has no IssueInstant"}
        )
    return instant


def _in_response_to(
    root: Element, confirmations: list[Element], *, response_signed: bool
) -> str | None:
    """The request this answers. Where only the assertion is signed, the Response's own
    InResponseTo is unsigned, so it must agree with the one inside the assertion."""
    inner = {data.get("InResponseTo") or None for data in confirmations}
    if len(inner) > 1:
        raise SamlInResponseToMismatch(extra={"reason": "conflicting InResponseTo values"})
    assertion_value = inner.pop()
    response_value = root.get("InResponseTo") or None
    if response_value is None:
        return assertion_value
    if response_value != assertion_value and (assertion_value is not None or not response_signed):
        raise SamlInResponseToMismatch(
            extra={"reason": "the Response and the assertion answer different requests"}
        )
    return response_value
