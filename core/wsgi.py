"""The WSGI entry point's request class (config/wsgi.py serves every request through it)."""

from __future__ import annotations

import codecs

from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.utils.http import parse_header_parameters

# Python text codecs that name no character set a client could mean, and fail on ordinary
# bytes with errors Django does not expect (UnicodeError rather than UnicodeDecodeError).
_PYTHON_ONLY_CODECS = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"}
)


def is_usable_charset(name: str) -> bool:
    """Whether ``name`` is a character set Django may decode a request with. ``zlib``,
    ``bz2``, ``base64``, ``hex``, ``rot13`` are Python codecs too, but no text encodings."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return False
    return getattr(info, "_is_text_encoding", True) and info.name not in _PYTHON_ONLY_CODECS


class TextCharsetRequest(WSGIRequest):
    """Django takes any codec Python knows as the request's charset and decodes the query string
    with it while the request is being built: ``Content-Type: ...; charset=zlib`` and a query
    string raise LookupError before any middleware runs, and gunicorn answers a bare 500. A
    charset that is no text encoding is ignored here, as Django ignores one it does not know
    (SCIM then refuses it with a 415 of its own: provisioning.scim.body)."""

    def _set_content_type_params(self, meta):
        self.content_type, self.content_params = parse_header_parameters(
            meta.get("CONTENT_TYPE", "")
        )
        charset = self.content_params.get("charset")
        if charset is not None and is_usable_charset(charset):
            self.encoding = charset


class Handler(WSGIHandler):
    request_class = TextCharsetRequest
