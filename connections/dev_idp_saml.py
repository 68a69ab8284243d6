"""The IdP side of the development IdP (DEBUG only: ``manage.py demo``, ``make run``): pysaml2's
IdP server, reading the AuthnRequests of our connections and signing their Responses.

Besides the adapter (``connections/saml.py``, the SP side) this is the only module that imports
pysaml2. It signs with a key generated at run time under var/dev-idp/ and is served only when
DJANGO_DEBUG is on (the views are ``connections/dev_idp.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAME_FORMAT_UNSPECIFIED, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server

from connections.models import Connection
from connections.saml import sp_metadata, xmlsec_binary


@dataclass(frozen=True)
class DevIdpRequest:
    request_id: str
    sp_entity_id: str
    acs_url: str


def _dev_idp_server(
    *, entity_id: str, sso_url: str, key_path: str, cert_path: str, connection: Connection
):
    config = IdPConfig()
    config.load(
        {
            "entityid": entity_id,
            "xmlsec_binary": xmlsec_binary(),
            "key_file": key_path,
            "cert_file": cert_path,
            "delete_tmpfiles": True,
            "metadata": {"inline": [sp_metadata(connection).decode("utf-8")]},
            "service": {
                "idp": {
                    "endpoints": {"single_sign_on_service": [(sso_url, BINDING_HTTP_REDIRECT)]},
                    # Okta's attribute names as the guide lists them, unchanged.
                    "policy": {
                        "default": {
                            "name_form": NAME_FORMAT_UNSPECIFIED,
                            "lifetime": {"minutes": 5},
                        }
                    },
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                }
            },
        }
    )
    return Server(config=config)


def dev_idp_read_request(saml_request: str, **server_options: Any) -> DevIdpRequest:
    server = _dev_idp_server(**server_options)
    request = server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT).message
    return DevIdpRequest(
        request_id=request.id,
        sp_entity_id=request.issuer.text.strip() if request.issuer is not None else "",
        acs_url=request.assertion_consumer_service_url or "",
    )


def dev_idp_response(
    *,
    email: str,
    attributes: dict[str, list[str]],
    in_response_to: str | None,
    **server_options: Any,
) -> bytes:
    """A Response signed the way Okta signs (assertion, RSA-SHA256), for the connection's ACS."""
    connection: Connection = server_options["connection"]
    server = _dev_idp_server(**server_options)
    response = server.create_authn_response(
        identity=attributes,
        in_response_to=in_response_to,
        destination=connection.acs_url,
        sp_entity_id=connection.sp_entity_id,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
        authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
        sign_assertion=True,
        sign_response=False,
        sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
    )
    return str(response).encode("utf-8")
