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
    """Django takes any codec Python knows as the request's charset, and its ``encoding`` setter
    then parses the query string while the request is being built, before any middleware and
    outside Django's error handling, so gunicorn answers a bare 500: with ``charset=zlib`` (no
    text encoding: LookupError) and with any charset and more than
    DATA_UPLOAD_MAX_NUMBER_FIELDS parameters (TooManyFieldsSent). Here a charset that is no
    text encoding is ignored, as Django ignores one it does not know (SCIM refuses it with a
    415 of its own: provisioning.scim.body), and nothing is parsed before it is asked for."""

    def _set_content_type_params(self, meta):
        self.content_type, self.content_params = parse_header_parameters(
            meta.get("CONTENT_TYPE", "")
        )
        charset = self.content_params.get("charset")
        if charset is not None and is_usable_charset(charset):
            # Not through the setter: nothing has been parsed yet, so nothing is to be re-read.
            self._encoding = charset


class Handler(WSGIHandler):
    request_class = TextCharsetRequest
