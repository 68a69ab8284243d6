"""Which identity provider product a connection talks to, guessed from what support configured
(the IdP's entity ID, sign-on URL and metadata URL, never from a received message), so that a
refusal can say where the fix is: "set SHA-256 as the SAML signature algorithm in OneLogin"
rather than "your IdP".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connections.models import Connection


@dataclass(frozen=True)
class IdpProduct:
    name: str
    # Where its admin sets the signature algorithm to SHA-256, said as its admin console says it.
    sha256_steps: str


_GENERIC = IdpProduct(
    "the identity provider",
    "set the SAML signature algorithm (and digest) to SHA-256 (RSA-SHA256) in the identity "
    "provider's settings for this application",
)

# (pattern over the configured URLs, product); the first match wins.
_PRODUCTS: tuple[tuple[re.Pattern[str], IdpProduct], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), product)
    for pattern, product in (
        (
            r"onelogin\.com",
            IdpProduct(
                "OneLogin",
                "set SHA-256 as the SAML signature algorithm in OneLogin (the application's "
                "SSO tab, 'SAML Signature Algorithm': SHA-256)",
            ),
        ),
        (
            r"sts\.windows\.net|login\.microsoftonline\.com|login\.windows\.net",
            IdpProduct(
                "Microsoft Entra ID",
                "set the signing algorithm to SHA-256 in Microsoft Entra ID (the enterprise "
                "application's Single sign-on page, SAML Certificates, Edit, 'Signing Algorithm': "
                "SHA-256)",
            ),
        ),
        (
            r"/adfs/",
            IdpProduct(
                "AD FS",
                "set the secure hash algorithm to SHA-256 in AD FS (the relying party trust's "
                "Properties, Advanced tab: SHA-256)",
            ),
        ),
        (
            r"okta\.com|oktapreview\.com|okta-emea\.com",
            IdpProduct(
                "Okta",
                "set the signature algorithm to RSA-SHA256 and the digest algorithm to SHA256 in "
                "Okta (the application's SAML settings, Show Advanced Settings)",
            ),
        ),
        (
            r"jumpcloud\.com",
            IdpProduct(
                "JumpCloud",
                "set the signature algorithm to RSA-SHA256 in JumpCloud (the SSO application's "
                "SSO tab)",
            ),
        ),
        (
            r"\.auth0\.com|^urn:[a-z0-9-]+\.(?:[a-z]{2}\.)?auth0\.com",
            IdpProduct(
                "Auth0",
                'set "signatureAlgorithm": "rsa-sha256" and "digestAlgorithm": "sha256" in '
                "Auth0 (the application's SAML2 Web App add-on settings)",
            ),
        ),
        (
            r"pingone\.(?:com|eu|asia|ca)",
            IdpProduct(
                "PingOne",
                "set the signing algorithm to RSA_SHA256 in PingOne (the application's "
                "Configuration, Signing Key)",
            ),
        ),
        (
            r"pingfed|/idp/sso\.saml2",
            IdpProduct(
                "PingFederate",
                "set the signing algorithm to RSA SHA256 in PingFederate (the SP connection's "
                "Credentials, Digital Signature Settings)",
            ),
        ),
        (
            r"/realms/",
            IdpProduct(
                "Keycloak",
                "set 'Signature algorithm' to RSA_SHA256 in Keycloak (the client's Keys or "
                "Signature and Encryption settings)",
            ),
        ),
        (
            r"accounts\.google\.com|google\.com/a/",
            IdpProduct(
                "Google Workspace",
                "use a SHA-256 certificate in Google Workspace (Security, SSO with Google as "
                "SAML IdP: generate a new certificate)",
            ),
        ),
    )
)


def idp_product(connection: Connection) -> IdpProduct:
    """The product the connection's configured URLs point at, or a generic one."""
    configured = " ".join(
        value
        for value in (
            connection.idp_entity_id,
            connection.observed_idp_entity_id,
            connection.sign_on_url,
            connection.metadata_url,
        )
        if value
    )
    for pattern, product in _PRODUCTS:
        if pattern.search(configured):
            return product
    return _GENERIC
