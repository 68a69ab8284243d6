"""SAML Responses shaped the way each major IdP writes them, for the interoperability tests.

``tests.saml_idp.TestIdP`` writes Okta's shape. Each ``Profile`` here is one product configured
one way, down to what an SP can trip over: namespace prefixes and where they are declared
(Entra ID and AD FS use default namespaces, OneLogin and Keycloak declare ``saml`` on the
Response, Keycloak repeats a default namespace on the Assertion), the signature's prefix
(``ds``, ``dsig`` or none) and what is signed (assertion, Response or both), ID styles, NameID
formats (email, username, Windows account, opaque and persistent IDs), attribute names,
NameFormats and FriendlyNames, ``xsi:type`` on values (``xs:string``, ``xs:anyType``, none) and
where ``xs``/``xsi`` are declared, the order of the statements, SessionNotOnOrAfter, Consent.
Signing is ``tests.saml_idp.sign_element`` (lxml and ``cryptography``, independent of the code
under test).

    profile = PROFILES["keycloak-x500"]
    idp = ShapedIdP(profile, keypair)
    xml = idp.respond_to(location, PERSON, audience=sp_entity_id)
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from lxml import etree

from tests.certs import KeyPair
from tests.saml_idp import (
    CM_BEARER,
    NAMEID_EMAIL,
    NAMEID_ENTITY,
    NAMEID_UNSPECIFIED,
    NS_SAML,
    NS_SAMLP,
    NS_XS,
    NS_XSI,
    STATUS_SUCCESS,
    Algorithm,
    _parse,
    _serialize,
    parse_authn_request,
    saml_time,
    sign_element,
)

NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
FORMAT_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
FORMAT_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
FORMAT_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
AC_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
AC_PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
AC_PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
AC_WINDOWS = "urn:federation:authentication:windows"
WS2005 = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims"
WS2008 = "http://schemas.microsoft.com/ws/2008/06/identity/claims"
MS_CLAIMS = "http://schemas.microsoft.com/identity/claims"
AUTH0 = "http://schemas.auth0.com"


@dataclass(frozen=True)
class Person:
    """Who signs in, as the IdP's directory knows them."""

    email: str
    username: str
    first: str
    last: str
    role: str | None
    team: str | None


@dataclass(frozen=True)
class Attr:
    """One ``Attribute`` element. ``value_type`` None writes no ``xsi:type``; "shape" takes the
    shape's default."""

    name: str
    values: tuple[str, ...]
    friendly_name: str | None = None
    name_format: str | None = "shape"
    value_type: str | None = "shape"


def attr(name: str, *values: str | None, **options) -> Attr | None:
    """An attribute, or None when it has no value (an IdP leaves empty ones out)."""
    kept = tuple(value for value in values if value)
    return Attr(name, kept, **options) if kept else None


@dataclass(frozen=True)
class Shape:
    """How a product writes a Response (see the module docstring)."""

    protocol_prefix: str | None = "saml2p"
    assertion_prefix: str | None = "saml2"  # None: a default namespace on Issuer and Assertion
    assertion_ns_on_response: bool = False  # the assertion prefix declared on the Response
    assertion_default_ns_too: bool = False  # Keycloak: xmlns="...assertion" on saml:Assertion
    ds_prefix: str | None = "ds"
    inclusive_prefixes: tuple[str, ...] = ()
    new_id: Callable[[], str] = field(default=lambda: f"_{uuid.uuid4()}")
    response_id: Callable[[], str] | None = None  # when the Response's IDs differ (OneLogin)
    issuer_format: bool = False
    name_format: str | None = None
    value_type: str | None = None
    # Where xs/xsi are declared: on each "value", the "statement", the "assertion", or nowhere.
    value_namespaces: str = "value"
    attributes_first: bool = False  # AttributeStatement before AuthnStatement (Entra, AD FS)
    authn_context: str = AC_PPT
    session_not_on_or_after: bool = False
    session_index: Callable[[], str] | None = None
    sign_assertion: bool = True
    sign_response: bool = False
    consent: str | None = None


@dataclass(frozen=True)
class Profile:
    """One IdP product configured one way: its shape, its URLs and what it sends for a person."""

    key: str
    product: str
    shape: Shape
    entity_id: str
    sso_url: str
    name_id: Callable[[Person], tuple[str, str]]  # (value, Format)
    attributes: Callable[[Person], list[Attr | None]]

    def with_shape(self, **changes) -> Profile:
        return replace(self, shape=replace(self.shape, **changes))


def _hex(length: int) -> str:
    return secrets.token_hex(length // 2)


def _alnum(length: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    alphabet = letters + "0123456789"
    return secrets.choice(letters) + "".join(secrets.choice(alphabet) for _ in range(length - 1))


class ShapedIdP:
    """Signs Responses in a profile's shape with ``keypair``."""

    def __init__(self, profile: Profile, keypair: KeyPair) -> None:
        self.profile = profile
        self.keypair = keypair

    def respond_to(self, location: str, person: Person, **options) -> bytes:
        """The answer to the SP's HTTP-Redirect AuthnRequest (its ``Location``)."""
        request = parse_authn_request(location)
        return self.response(
            person,
            acs_url=request.acs_url,
            audience=request.issuer,
            in_response_to=request.id,
            **options,
        )

    def response(
        self,
        person: Person,
        *,
        acs_url: str,
        audience: str,
        in_response_to: str | None = None,
        algorithm: Algorithm = "rsa-sha256",
        name_id: tuple[str, str] | None = None,
        session_index: str | None = None,
    ) -> bytes:
        shape = self.profile.shape
        now = datetime.now(UTC)
        name_id_value, name_id_format = name_id or self.profile.name_id(person)
        response = self._response_element(shape, now, acs_url, in_response_to)
        self._issuer(response, shape)
        status = etree.SubElement(response, _q(NS_SAMLP, "Status"))
        etree.SubElement(status, _q(NS_SAMLP, "StatusCode"), Value=STATUS_SUCCESS)

        nsmap = {}
        if not shape.assertion_ns_on_response:
            nsmap[shape.assertion_prefix] = NS_SAML
        if shape.value_namespaces == "assertion":
            nsmap.update({"xs": NS_XS, "xsi": NS_XSI})
        assertion = etree.SubElement(response, _q(NS_SAML, "Assertion"), nsmap=nsmap)
        assertion.set("ID", shape.new_id())
        assertion.set("IssueInstant", saml_time(now))
        assertion.set("Version", "2.0")
        self._issuer(assertion, shape)
        subject = etree.SubElement(assertion, _q(NS_SAML, "Subject"))
        name_id_element = etree.SubElement(subject, _q(NS_SAML, "NameID"), Format=name_id_format)
        name_id_element.text = name_id_value
        confirmation = etree.SubElement(
            subject, _q(NS_SAML, "SubjectConfirmation"), Method=CM_BEARER
        )
        data = etree.SubElement(confirmation, _q(NS_SAML, "SubjectConfirmationData"))
        if in_response_to:
            data.set("InResponseTo", in_response_to)
        data.set("NotOnOrAfter", saml_time(now + timedelta(minutes=5)))
        data.set("Recipient", acs_url)
        conditions = etree.SubElement(
            assertion,
            _q(NS_SAML, "Conditions"),
            NotBefore=saml_time(now - timedelta(minutes=1)),
            NotOnOrAfter=saml_time(now + timedelta(hours=1)),
        )
        restriction = etree.SubElement(conditions, _q(NS_SAML, "AudienceRestriction"))
        etree.SubElement(restriction, _q(NS_SAML, "Audience")).text = audience

        index = session_index or (shape.session_index or shape.new_id)()
        statements = [
            lambda: self._authn_statement(assertion, shape, now, index),
            lambda: self._attribute_statement(assertion, shape, person),
        ]
        for build in reversed(statements) if shape.attributes_first else statements:
            build()

        xml = _serialize(response)
        if shape.assertion_default_ns_too:
            xml = xml.replace(
                f"<{shape.assertion_prefix}:Assertion ".encode(),
                f'<{shape.assertion_prefix}:Assertion xmlns="{NS_SAML}" '.encode(),
                1,
            )
        root = _parse(xml)
        signing = {
            "algorithm": algorithm,
            "ds_prefix": shape.ds_prefix,
            "inclusive_prefixes": shape.inclusive_prefixes,
        }
        if shape.sign_assertion:
            sign_element(root.find(_q(NS_SAML, "Assertion")), self.keypair, **signing)
        if shape.sign_response:
            sign_element(root, self.keypair, **signing)
        return _serialize(root)

    def _response_element(self, shape, now, acs_url, in_response_to) -> etree._Element:
        nsmap = {shape.protocol_prefix: NS_SAMLP}
        if shape.assertion_ns_on_response:
            nsmap[shape.assertion_prefix] = NS_SAML
        response = etree.Element(_q(NS_SAMLP, "Response"), nsmap=nsmap)
        response.set("ID", (shape.response_id or shape.new_id)())
        response.set("Version", "2.0")
        response.set("IssueInstant", saml_time(now))
        response.set("Destination", acs_url)
        if shape.consent:
            response.set("Consent", shape.consent)
        if in_response_to:
            response.set("InResponseTo", in_response_to)
        return response

    def _issuer(self, parent: etree._Element, shape: Shape) -> None:
        nsmap = None
        if parent.tag == _q(NS_SAMLP, "Response") and not shape.assertion_ns_on_response:
            nsmap = {shape.assertion_prefix: NS_SAML}
        issuer = etree.SubElement(parent, _q(NS_SAML, "Issuer"), nsmap=nsmap)
        if shape.issuer_format:
            issuer.set("Format", NAMEID_ENTITY)
        issuer.text = self.profile.entity_id

    def _authn_statement(self, assertion, shape, now, index) -> None:
        authn = etree.SubElement(
            assertion,
            _q(NS_SAML, "AuthnStatement"),
            AuthnInstant=saml_time(now - timedelta(seconds=2)),
            SessionIndex=index,
        )
        if shape.session_not_on_or_after:
            authn.set("SessionNotOnOrAfter", saml_time(now + timedelta(hours=8)))
        context = etree.SubElement(authn, _q(NS_SAML, "AuthnContext"))
        etree.SubElement(context, _q(NS_SAML, "AuthnContextClassRef")).text = shape.authn_context

    def _attribute_statement(self, assertion, shape, person) -> None:
        attributes = [item for item in self.profile.attributes(person) if item is not None]
        if not attributes:
            return
        nsmap = {"xs": NS_XS, "xsi": NS_XSI} if shape.value_namespaces == "statement" else None
        statement = etree.SubElement(assertion, _q(NS_SAML, "AttributeStatement"), nsmap=nsmap)
        for item in attributes:
            element = etree.SubElement(statement, _q(NS_SAML, "Attribute"))
            if item.friendly_name:
                element.set("FriendlyName", item.friendly_name)
            element.set("Name", item.name)
            name_format = shape.name_format if item.name_format == "shape" else item.name_format
            if name_format:
                element.set("NameFormat", name_format)
            value_type = shape.value_type if item.value_type == "shape" else item.value_type
            for value in item.values:
                value_nsmap = (
                    {"xs": NS_XS, "xsi": NS_XSI}
                    if value_type and shape.value_namespaces == "value"
                    else None
                )
                value_element = etree.SubElement(
                    element, _q(NS_SAML, "AttributeValue"), nsmap=value_nsmap
                )
                if value_type:
                    value_element.set(_q(NS_XSI, "type"), value_type)
                value_element.text = value


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


# --------------------------------------------------------------------------------------------------
# The products
# --------------------------------------------------------------------------------------------------

_OKTA = Shape(
    new_id=lambda: f"id{secrets.randbits(96)}",
    issuer_format=True,
    name_format=FORMAT_UNSPECIFIED,
    value_type="xs:string",
    inclusive_prefixes=("xs",),
    sign_response=True,
)
_ENTRA = Shape(
    protocol_prefix="samlp",
    assertion_prefix=None,
    ds_prefix=None,
    attributes_first=True,
    authn_context=AC_PASSWORD,
)
_ADFS = Shape(
    protocol_prefix="samlp",
    assertion_prefix=None,
    attributes_first=True,
    authn_context=AC_WINDOWS,
    consent="urn:oasis:names:tc:SAML:2.0:consent:unspecified",
)
_GOOGLE = Shape(
    new_id=lambda: f"_{_hex(32)}",
    value_type="xs:anyType",
    authn_context=AC_UNSPECIFIED,
)
_ONELOGIN = Shape(
    protocol_prefix="samlp",
    assertion_prefix="saml",
    assertion_ns_on_response=True,
    new_id=lambda: f"pfx{uuid.uuid4()}",
    response_id=lambda: f"R{_hex(40)}",
    name_format=FORMAT_BASIC,
    value_type="xs:string",
    value_namespaces="assertion",
    session_not_on_or_after=True,
)
_JUMPCLOUD = Shape(
    new_id=lambda: f"_{_hex(40)}",
    name_format=FORMAT_UNSPECIFIED,
    value_type="xs:string",
    sign_assertion=False,
    sign_response=True,
)
_PINGFEDERATE = Shape(
    protocol_prefix="samlp",
    assertion_prefix="saml",
    new_id=lambda: _alnum(27),
    name_format=FORMAT_BASIC,
    value_type="xs:string",
    authn_context=AC_UNSPECIFIED,
    sign_assertion=False,
    sign_response=True,
)
_PINGONE = Shape(
    protocol_prefix="samlp",
    assertion_prefix="saml",
    name_format=FORMAT_BASIC,
    value_type="xs:string",
    authn_context=AC_UNSPECIFIED,
)
_AUTH0 = Shape(
    protocol_prefix="samlp",
    assertion_prefix="saml",
    ds_prefix=None,
    new_id=lambda: f"_{_hex(20)}",
    name_format=FORMAT_URI,
    value_type="xs:string",
    value_namespaces="statement",
    authn_context=AC_UNSPECIFIED,
)
_KEYCLOAK = Shape(
    protocol_prefix="samlp",
    assertion_prefix="saml",
    assertion_ns_on_response=True,
    assertion_default_ns_too=True,
    ds_prefix="dsig",
    new_id=lambda: f"ID_{uuid.uuid4()}",
    session_index=lambda: f"{uuid.uuid4()}::{uuid.uuid4()}",
    name_format=FORMAT_BASIC,
    value_type="xs:string",
    authn_context=AC_UNSPECIFIED,
    session_not_on_or_after=True,
    sign_assertion=False,
    sign_response=True,
)

_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
_KEYCLOAK_REALM = "https://kc.acme.example/realms/acme"


def _email_name_id(person: Person) -> tuple[str, str]:
    return person.email, NAMEID_EMAIL


def _guide_names(person: Person) -> list[Attr | None]:
    """The customer guide's attribute statement (Okta's app profile; other IdPs' admins type the
    same names when they follow it)."""
    return [
        attr("user_name", person.username),
        attr("email", person.email),
        attr("givenName", person.first),
        attr("familyName", person.last),
        attr("userType", person.role),
        attr("division", person.team),
    ]


PROFILES: dict[str, Profile] = {
    profile.key: profile
    for profile in (
        Profile(
            key="okta-signed-response",
            product="Okta",
            shape=_OKTA,
            entity_id="http://www.okta.com/exk1a2b3c4d5e6F7g8h9",
            sso_url="https://acme.okta.com/app/acme_sendoso_1/exk1a2b3c4d5e6F7g8h9/sso/saml",
            name_id=_email_name_id,
            attributes=_guide_names,
        ),
        Profile(
            key="entra",
            product="Microsoft Entra ID",
            shape=_ENTRA,
            entity_id=f"https://sts.windows.net/{_TENANT}/",
            sso_url=f"https://login.microsoftonline.com/{_TENANT}/saml2",
            # The default NameID: the user principal name, in emailAddress format, which is not
            # always the mailbox.
            name_id=lambda p: (f"{p.username}@acme.onmicrosoft.com", NAMEID_EMAIL),
            attributes=lambda p: [
                attr(f"{MS_CLAIMS}/tenantid", _TENANT),
                attr(f"{MS_CLAIMS}/objectidentifier", "4b3c2d1e-0f9a-4b8c-9d7e-6f5a4b3c2d1e"),
                attr(f"{MS_CLAIMS}/displayname", f"{p.first} {p.last}"),
                attr(f"{MS_CLAIMS}/identityprovider", f"https://sts.windows.net/{_TENANT}/"),
                attr(
                    "http://schemas.microsoft.com/claims/authnmethodsreferences",
                    "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password",
                ),
                attr(f"{WS2005}/givenname", p.first),
                attr(f"{WS2005}/surname", p.last),
                attr(f"{WS2005}/emailaddress", p.email),
                attr(f"{WS2005}/name", f"{p.username}@acme.onmicrosoft.com"),
                attr(f"{WS2008}/role", p.role),
                attr(f"{WS2005}/department", p.team),
            ],
        ),
        Profile(
            key="adfs",
            product="AD FS",
            shape=_ADFS,
            entity_id="http://adfs.acme.example/adfs/services/trust",
            sso_url="https://adfs.acme.example/adfs/ls/",
            # "Windows account name" as the NameID: the email comes from the claims.
            name_id=lambda p: (f"ACME\\{p.username}", NAMEID_UNSPECIFIED),
            attributes=lambda p: [
                attr(f"{WS2005}/emailaddress", p.email),
                attr(f"{WS2005}/givenname", p.first),
                attr(f"{WS2005}/surname", p.last),
                attr(f"{WS2005}/upn", f"{p.username}@corp.acme.example"),
                attr("http://schemas.xmlsoap.org/claims/Group", "Domain Users", "VPN Users"),
                attr(f"{WS2008}/role", p.role),
                attr(f"{WS2005}/department", p.team),
            ],
        ),
        Profile(
            key="google",
            product="Google Workspace",
            shape=_GOOGLE,
            entity_id="https://accounts.google.com/o/saml2?idpid=C01abc234",
            sso_url="https://accounts.google.com/o/saml2/idp?idpid=C01abc234",
            # Google's NameID is the primary email, in "unspecified" format unless set.
            name_id=lambda p: (p.email, NAMEID_UNSPECIFIED),
            attributes=lambda p: [
                attr("firstName", p.first),
                attr("lastName", p.last),
                attr("department", p.team),
                attr("userType", p.role),
            ],
        ),
        Profile(
            key="onelogin",
            product="OneLogin",
            # The administrator switched the algorithm to SHA-256 (OneLogin's default is SHA-1).
            shape=_ONELOGIN,
            entity_id="https://app.onelogin.com/saml/metadata/3f1e2d3c-1b2a-4c5d-8e9f-0a1b2c3d4e5f",
            sso_url="https://acme.onelogin.com/trust/saml2/http-post/sso/3f1e2d3c-1b2a-4c5d-8e9f",
            name_id=_email_name_id,
            attributes=lambda p: [
                attr("User.email", p.email),
                attr("User.FirstName", p.first),
                attr("User.LastName", p.last),
                attr("memberOf", "Everyone"),
                attr("PersonImmutableID", p.username),
                attr("userType", p.role),
                attr("division", p.team),
            ],
        ),
        Profile(
            key="jumpcloud",
            product="JumpCloud",
            shape=_JUMPCLOUD,
            entity_id="JumpCloud",
            sso_url="https://sso.jumpcloud.com/saml2/acme-sendoso",
            name_id=lambda p: (p.email, NAMEID_UNSPECIFIED),
            attributes=lambda p: [
                attr("email", p.email),
                attr("firstname", p.first),
                attr("lastname", p.last),
                attr("department", p.team),
                attr("userType", p.role),
            ],
        ),
        Profile(
            key="pingfederate",
            product="PingFederate",
            shape=_PINGFEDERATE,
            entity_id="https://pingfed.acme.example:9031",
            sso_url="https://pingfed.acme.example:9031/idp/SSO.saml2",
            # SAML_SUBJECT from the directory's sAMAccountName; LDAP names for the rest.
            name_id=lambda p: (p.username, NAMEID_UNSPECIFIED),
            attributes=lambda p: [
                attr("mail", p.email),
                attr("givenName", p.first),
                attr("sn", p.last),
                attr("memberOf", "CN=Staff,OU=Groups,DC=acme,DC=example"),
                attr("userType", p.role),
                attr("division", p.team),
            ],
        ),
        Profile(
            key="pingone",
            product="PingOne",
            shape=_PINGONE,
            entity_id="https://auth.pingone.com/5caa81af-ec05-41ff-a709-c7378007a99c",
            sso_url="https://auth.pingone.com/5caa81af-ec05-41ff-a709-c7378007a99c/saml20/idp/sso",
            name_id=_email_name_id,
            attributes=lambda p: [
                attr("email", p.email),
                attr("given_name", p.first),
                attr("family_name", p.last),
                attr("userType", p.role),
                attr("division", p.team),
            ],
        ),
        Profile(
            key="auth0",
            product="Auth0",
            shape=_AUTH0,
            entity_id="urn:acme.eu.auth0.com",
            sso_url="https://acme.eu.auth0.com/samlp/Xk3n4Qh8v2Lz5Rt7Yw9Pq1Ms6Ud0Fa",
            # Auth0's NameID is its user_id, in "unspecified" format; the email is a claim.
            name_id=lambda p: ("auth0|5f7c8ec7c33c6c004bbafe82", NAMEID_UNSPECIFIED),
            attributes=lambda p: [
                attr(f"{WS2005}/nameidentifier", "auth0|5f7c8ec7c33c6c004bbafe82"),
                attr(f"{WS2005}/emailaddress", p.email),
                attr(f"{WS2005}/name", p.email),
                attr(f"{WS2005}/upn", p.email),
                attr(f"{WS2005}/givenname", p.first),
                attr(f"{WS2005}/surname", p.last),
                attr(f"{AUTH0}/identities/default/provider", "auth0"),
                attr(f"{AUTH0}/identities/default/connection", "Username-Password-Authentication"),
                attr(f"{AUTH0}/identities/default/isSocial", "false", value_type="xs:boolean"),
                attr(f"{AUTH0}/email_verified", "true", value_type="xs:boolean"),
                attr(f"{AUTH0}/nickname", p.username),
                attr(f"{WS2008}/role", p.role),
                attr("division", p.team),
            ],
        ),
        # Keycloak with its built-in X.500 mappers: the email as urn:oid:1.2.840.113549.1.9.1
        # (FriendlyName "email"), a username NameID, the role list (one Attribute per role,
        # realm defaults included); only the document (the Response) signed, as by default.
        Profile(
            key="keycloak-x500",
            product="Keycloak",
            shape=_KEYCLOAK,
            entity_id=_KEYCLOAK_REALM,
            sso_url=f"{_KEYCLOAK_REALM}/protocol/saml",
            name_id=lambda p: (p.username, NAMEID_UNSPECIFIED),
            attributes=lambda p: [
                attr(
                    "urn:oid:1.2.840.113549.1.9.1",
                    p.email,
                    friendly_name="email",
                    name_format=FORMAT_URI,
                ),
                attr(
                    "urn:oid:2.5.4.42", p.first, friendly_name="givenName", name_format=FORMAT_URI
                ),
                attr("urn:oid:2.5.4.4", p.last, friendly_name="surname", name_format=FORMAT_URI),
                attr("Role", "default-roles-acme"),
                attr("Role", "offline_access"),
                attr("Role", p.role),
                attr("Role", "uma_authorization"),
                attr("division", p.team),
            ],  # fmt: skip
        ),
        # Keycloak with "User Property" mappers (email, firstName, lastName), user attributes for
        # userType and division, an email NameID, assertions and documents both signed.
        Profile(
            key="keycloak-user-property",
            product="Keycloak",
            shape=replace(_KEYCLOAK, sign_assertion=True),
            entity_id=_KEYCLOAK_REALM,
            sso_url=f"{_KEYCLOAK_REALM}/protocol/saml",
            name_id=_email_name_id,
            attributes=lambda p: [
                attr("email", p.email),
                attr("firstName", p.first),
                attr("lastName", p.last),
                attr("userType", p.role),
                attr("division", p.team),
            ],
        ),
        # Keycloak with a persistent NameID and every attribute named by an OID with a
        # FriendlyName (the realm's own OIDs for userType and division); assertions signed only.
        Profile(
            key="keycloak-persistent-oids",
            product="Keycloak",
            shape=replace(_KEYCLOAK, sign_assertion=True, sign_response=False),
            entity_id=_KEYCLOAK_REALM,
            sso_url=f"{_KEYCLOAK_REALM}/protocol/saml",
            name_id=lambda p: (f"G-{uuid.uuid5(uuid.NAMESPACE_URL, p.email)}", NAMEID_PERSISTENT),
            attributes=lambda p: [
                attr(
                    "urn:oid:0.9.2342.19200300.100.1.3",
                    p.email,
                    friendly_name="mail",
                    name_format=FORMAT_URI,
                ),
                attr(
                    "urn:oid:2.5.4.42", p.first, friendly_name="givenName", name_format=FORMAT_URI
                ),
                attr("urn:oid:2.5.4.4", p.last, friendly_name="sn", name_format=FORMAT_URI),
                attr(
                    "urn:oid:1.3.6.1.4.1.57264.1.1",
                    p.role,
                    friendly_name="userType",
                    name_format=FORMAT_URI,
                ),
                attr(
                    "urn:oid:1.3.6.1.4.1.57264.1.2",
                    p.team,
                    friendly_name="division",
                    name_format=FORMAT_URI,
                ),
            ],  # fmt: skip
        ),
    )
}
