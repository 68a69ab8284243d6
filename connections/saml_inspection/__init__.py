"""A hostile-XML gate and a structural reading of a SAML Response: the one parse of it.

Several attacks live in what a signature check alone leaves to the application: DTDs and
entities, comments that split a NameID (its text reads differently from what was signed),
signature wrapping (a second assertion beside or around the signed one, a signature that covers
another element than the one it sits in), and responses whose Destination, Recipient or
Audience are simply absent. This module refuses all of those, on the raw bytes first, then on
the tree of the one parse (``saml_crypto.parse``: no DTD, no entity, no network, no ID
registered), and extracts the values the sign-in checks. Each signature must already fit the
signature profile here (``saml_crypto.check_signature_profile``), whichever backend verifies it.

Nothing read here is trusted before the adapter (``connections.saml``) has verified the
signatures of this same tree, which it then reads the verified assertion from.
"""

from connections.saml_inspection.gate import (
    BEARER,
    DS,
    MAX_RESPONSE_BYTES,
    SAML,
    SAMLP,
    STATUS_SUCCESS,
    decode_post,
    parse_instant,
    parse_message,
    text_of,
)
from connections.saml_inspection.response import InspectedResponse, inspect_response

__all__ = [
    "BEARER",
    "DS",
    "MAX_RESPONSE_BYTES",
    "SAML",
    "SAMLP",
    "STATUS_SUCCESS",
    "InspectedResponse",
    "decode_post",
    "inspect_response",
    "parse_instant",
    "parse_message",
    "text_of",
]
