"""The HTTP-Redirect and HTTP-POST bindings (saml-bindings 3.4 and 3.5): our messages encoded,
signed when the connection signs requests; the IdP's messages decoded, with what is needed to
check their signature.

HTTP-Redirect: the message is DEFLATEd, base64-encoded and URL-encoded into ``SAMLRequest`` or
``SAMLResponse``, then ``RelayState`` and ``SigAlg``; the signature is over exactly those octets
(3.4.4.1), as sent. An incoming signature is therefore checked over the query string as it was
received, never over a re-encoding of the decoded values (IdPs encode differently: lowercase
hex, ``%20`` or ``+``). The signature of a message over HTTP-POST is an XML signature inside it.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote_plus, unquote_plus

from connections.exceptions import SamlMalformed
from connections.saml_inspection import MAX_RESPONSE_BYTES

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
MESSAGE_PARAMETERS = ("SAMLRequest", "SAMLResponse")
# RelayState is at most 80 bytes (3.4.3); we echo the IdP's back only when it keeps to that.
MAX_RELAY_STATE = 80
_MAX_QUERY = MAX_RESPONSE_BYTES * 2


@dataclass(frozen=True)
class Received:
    """A message as a binding delivered it. ``signed_octets`` are what an HTTP-Redirect
    signature covers (empty for HTTP-POST)."""

    parameter: str  # SAMLRequest or SAMLResponse
    xml: bytes
    relay_state: str | None
    binding: str  # "redirect" or "post"
    sig_alg: str | None = None
    signature: bytes | None = None
    signed_octets: bytes = b""


def redirect_url(
    location: str,
    parameter: str,
    xml: bytes,
    *,
    relay_state: str | None = None,
    sign: Callable[[bytes], bytes] | None = None,
) -> str:
    """The URL that sends the browser to ``location`` with the message; signed (RSA-SHA256)
    with ``sign`` over the query octets when given."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = deflate.compress(xml) + deflate.flush()
    parts = [f"{parameter}={quote_plus(base64.b64encode(deflated).decode('ascii'))}"]
    if relay_state:
        parts.append(f"RelayState={quote_plus(relay_state)}")
    if sign is not None:
        parts.append(f"SigAlg={quote_plus(RSA_SHA256)}")
        signature = sign("&".join(parts).encode("ascii"))
        parts.append(f"Signature={quote_plus(base64.b64encode(signature).decode('ascii'))}")
    return f"{location}{'&' if '?' in location else '?'}{'&'.join(parts)}"


def post_fields(parameter: str, xml: bytes, relay_state: str | None = None) -> dict[str, str]:
    """The form fields of an HTTP-POST binding message."""
    fields = {parameter: base64.b64encode(xml).decode("ascii")}
    if relay_state:
        fields["RelayState"] = relay_state
    return fields


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SamlMalformed(extra={"reason": f"{what} is not base64"}) from None


def _inflate(data: bytes) -> bytes:
    inflate = zlib.decompressobj(-15)
    try:
        xml = inflate.decompress(data, MAX_RESPONSE_BYTES + 1)
    except zlib.error:
        raise SamlMalformed(extra={"reason": "the message is not DEFLATE-encoded"}) from None
    if len(xml) > MAX_RESPONSE_BYTES or inflate.unconsumed_tail:
        raise SamlMalformed(extra={"reason": "the message inflates to more than any real one"})
    return xml


def read_redirect(query_string: str) -> Received:
    """The message of an HTTP-Redirect binding request, from the raw query string."""
    if len(query_string) > _MAX_QUERY:
        raise SamlMalformed(extra={"reason": "query string too long"})
    raw: dict[str, str] = {}
    for part in query_string.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = unquote_plus(name)
        if name in raw:
            raise SamlMalformed(extra={"reason": f"{name[:40]} given twice"})
        raw[name] = value
    parameters = [name for name in MESSAGE_PARAMETERS if name in raw]
    if len(parameters) != 1:
        raise SamlMalformed(extra={"reason": "expected one SAMLRequest or SAMLResponse"})
    parameter = parameters[0]
    xml = _inflate(_b64(unquote_plus(raw[parameter]), parameter))
    relay_state = unquote_plus(raw["RelayState"]) if "RelayState" in raw else None
    if ("Signature" in raw) != ("SigAlg" in raw):
        raise SamlMalformed(extra={"reason": "Signature and SigAlg go together"})
    if "Signature" not in raw:
        return Received(parameter, xml, relay_state, "redirect")
    octets = "&".join(
        f"{name}={raw[name]}" for name in (parameter, "RelayState", "SigAlg") if name in raw
    )
    return Received(
        parameter,
        xml,
        relay_state,
        "redirect",
        sig_alg=unquote_plus(raw["SigAlg"]),
        signature=_b64(unquote_plus(raw["Signature"]), "Signature"),
        signed_octets=_wsgi_bytes(octets),
    )


def _wsgi_bytes(text: str) -> bytes:
    """The octets of a query string as the browser sent them: WSGI hands them over decoded as
    Latin-1 (an IdP percent-encodes, so they are ASCII in practice)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def read_post(form: Mapping[str, str]) -> Received:
    """The message of an HTTP-POST binding request, from its form fields."""
    parameters = [name for name in MESSAGE_PARAMETERS if form.get(name)]
    if len(parameters) != 1:
        raise SamlMalformed(extra={"reason": "expected one SAMLRequest or SAMLResponse"})
    parameter = parameters[0]
    value = form[parameter]
    if len(value) > MAX_RESPONSE_BYTES * 4 // 3 + 4:
        raise SamlMalformed(extra={"reason": f"{parameter} too large"})
    return Received(parameter, _b64(value, parameter), form.get("RelayState"), "post")
