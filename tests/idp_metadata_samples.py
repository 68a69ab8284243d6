"""IdP metadata in the shapes the IdPs publish, as their documentation shows it, written here with
certificates made at test time (nothing foreign is committed).

- Okta: ``md:`` prefix, ``entityID="http://www.okta.com/exk…"``, one ``KeyDescriptor use="signing"``,
  two NameIDFormats, SingleSignOnService HTTP-POST then HTTP-Redirect (same Location).
- Entra ID: default namespace, a signed ``EntityDescriptor`` with an ``ID``, WS-Federation
  ``RoleDescriptor``s (``fed:SecurityTokenServiceType``, ``fed:ApplicationServiceType``) carrying
  their own KeyDescriptors before the ``IDPSSODescriptor``, ``https://sts.windows.net/<tenant>/``.
- Google Workspace: ``validUntil`` on the EntityDescriptor, ``accounts.google.com/o/saml2?idpid=…``,
  Redirect then POST.
- OneLogin: default namespace, ``xmlns:ds`` declared on the IDPSSODescriptor,
  SingleLogoutService before SingleSignOnService (Redirect, POST, SOAP).
- JumpCloud: ``entityID="JumpCloud"`` (the admin picks it), ``sso.jumpcloud.com/saml2/<app>``.
- Keycloak: an ``md:EntitiesDescriptor Name="urn:keycloak"`` around the realm's EntityDescriptor,
  ``ds:KeyName`` before the X509Data, several keys during a rotation, Artifact/SOAP services.
"""

from __future__ import annotations

from tests.certs import KeyPair


def b64(pair: KeyPair, *, wrap: int = 0) -> str:
    """The certificate as metadata carries it: base64 DER, optionally wrapped in lines."""
    import base64

    text = base64.b64encode(pair.cert_der).decode()
    if wrap:
        text = "\n".join(text[i : i + wrap] for i in range(0, len(text), wrap))
    return text


def _md_keys(pairs: list[KeyPair], *, use: str | None = "signing", prefix: str = "md:") -> str:
    use_attr = f' use="{use}"' if use else ""
    return "".join(
        f'<{prefix}KeyDescriptor{use_attr}><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
        f"<ds:X509Data><ds:X509Certificate>{b64(p, wrap=64)}</ds:X509Certificate></ds:X509Data>"
        f"</ds:KeyInfo></{prefix}KeyDescriptor>"
        for p in pairs
    )


def okta(pairs: list[KeyPair], *, app: str = "exk1fcia6d6EMsf331d8", org: str = "acme") -> bytes:
    sso = f"https://{org}.okta.com/app/{org}_sendoso_1/{app}/sso/saml"
    return f"""<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="http://www.okta.com/{app}"><md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{_md_keys(pairs)}<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{sso}"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/></md:IDPSSODescriptor></md:EntityDescriptor>""".encode()


def entra(pairs: list[KeyPair], *, tenant: str = "9188040d-6c67-4c5b-b112-36a304b66dad") -> bytes:
    keys = "".join(
        f'<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data>'
        f"<X509Certificate>{b64(p)}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>"
        for p in pairs
    )
    sso = f"https://login.microsoftonline.com/{tenant}/saml2"
    # The Signature is Entra's over the whole document (not checked by us; its value is opaque).
    return f"""\ufeff<EntityDescriptor ID="_4b8c1e36-1d3c-4f2a-9c55-1c0f0e6d1a11" entityID="https://sts.windows.net/{tenant}/" xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo><CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><Reference URI="#_4b8c1e36-1d3c-4f2a-9c55-1c0f0e6d1a11"><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms><DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue>q6Lk0vXk2vQ0Ytq0fI0m1bQJ3kq4oJQeYQhZ2VY0sK8=</DigestValue></Reference></SignedInfo><SignatureValue>c2lnbmF0dXJl</SignatureValue><KeyInfo><X509Data><X509Certificate>{b64(pairs[0])}</X509Certificate></X509Data></KeyInfo></Signature><RoleDescriptor xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706">{keys}<fed:ClaimTypesOffered><auth:ClaimType Uri="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name" xmlns:auth="http://docs.oasis-open.org/wsfed/authorization/200706"><auth:DisplayName>Name</auth:DisplayName></auth:ClaimType></fed:ClaimTypesOffered><fed:PassiveRequestorEndpoint><wsa:EndpointReference xmlns:wsa="http://www.w3.org/2005/08/addressing"><wsa:Address>https://login.microsoftonline.com/{tenant}/wsfed</wsa:Address></wsa:EndpointReference></fed:PassiveRequestorEndpoint></RoleDescriptor><RoleDescriptor xsi:type="fed:ApplicationServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706">{keys}</RoleDescriptor><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{sso}"/></IDPSSODescriptor></EntityDescriptor>""".encode()


def google(
    pairs: list[KeyPair], *, idpid: str = "C01abc2de", valid_until: str = "2031-01-27T18:06:30.000Z"
) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://accounts.google.com/o/saml2?idpid={idpid}" validUntil="{valid_until}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {_md_keys(pairs)}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://accounts.google.com/o/saml2/idp?idpid={idpid}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://accounts.google.com/o/saml2/idp?idpid={idpid}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
""".encode()


def onelogin(
    pairs: list[KeyPair], *, uuid: str = "6c0c2f4e-7c5b-4d1e-9d8a-3b2f1e0a9c71", org: str = "acme"
) -> bytes:
    keys = "".join(
        f'<KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64(p, wrap=76)}'
        f"</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>"
        for p in pairs
    )
    return f"""<?xml version="1.0"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://app.onelogin.com/saml/metadata/{uuid}">
  <IDPSSODescriptor xmlns:ds="http://www.w3.org/2000/09/xmldsig#" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {keys}
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://{org}.onelogin.com/trust/saml2/http-redirect/slo/2417713"/>
    <NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://{org}.onelogin.com/trust/saml2/http-redirect/sso/{uuid}"/>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://{org}.onelogin.com/trust/saml2/http-post/sso/{uuid}"/>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://{org}.onelogin.com/trust/saml2/soap/sso/{uuid}"/>
  </IDPSSODescriptor>
  <ContactPerson contactType="technical">
    <SurName>Support</SurName>
    <EmailAddress>support@onelogin.com</EmailAddress>
  </ContactPerson>
</EntityDescriptor>
""".encode()


def jumpcloud(pairs: list[KeyPair], *, entity_id: str = "JumpCloud", app: str = "sendoso") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {_md_keys(pairs)}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sso.jumpcloud.com/saml2/{app}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sso.jumpcloud.com/saml2/{app}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
""".encode()


def keycloak(
    pairs: list[KeyPair], *, base: str = "https://kc.acme.example", realm: str = "acme"
) -> bytes:
    keys = "".join(
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:KeyName>kid-{i}</ds:KeyName><ds:X509Data>'
        f"<ds:X509Certificate>{b64(p)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for i, p in enumerate(pairs)
    )
    endpoint = f"{base}/realms/{realm}/protocol/saml"
    return f"""<md:EntitiesDescriptor Name="urn:keycloak" xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <md:EntityDescriptor entityID="{base}/realms/{realm}">
    <md:IDPSSODescriptor WantAuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
      {keys}
      <md:ArtifactResolutionService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="{endpoint}/resolve" index="0"/>
      <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{endpoint}"/>
      <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{endpoint}"/>
      <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
      <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
      <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>
      <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
      <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{endpoint}"/>
      <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{endpoint}"/>
      <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="{endpoint}"/>
      <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-ARTIFACT" Location="{endpoint}"/>
    </md:IDPSSODescriptor>
  </md:EntityDescriptor>
</md:EntitiesDescriptor>
""".encode()


def sp_metadata(pair: KeyPair) -> bytes:
    """A service provider's metadata: what a customer sends by mistake."""
    return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://app.example/sp"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{_md_keys([pair])}<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://app.example/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>""".encode()


VENDORS = {
    "okta": okta,
    "entra": entra,
    "google": google,
    "onelogin": onelogin,
    "jumpcloud": jumpcloud,
    "keycloak": keycloak,
}
