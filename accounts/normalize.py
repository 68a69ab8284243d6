"""How emails, userNames and domains are compared: normalized once, here, in Python.

The database never folds case for us. SQLite's ``LOWER()`` only knows ASCII and PostgreSQL's
depends on the collation, so a comparison made in SQL gives a different answer on each (a Kelvin
sign, U+212A, is "k" to Python and PostgreSQL but not to SQLite; "JOSÉ" is "josé" everywhere but
in SQLite). Instead every writer stores a key computed by the functions below, and every lookup
(sign-in, SCIM filters, the admin, commands) computes the same key from what it was given and
compares bytes.

- ``identity_key``: Unicode's caseless identifier match (NFKC, then full case folding, then NFKC
  again: UAX #31 / Unicode 3.13 ``NFKC_Casefold``, less the removal of ignorables). It makes
  ``K`` (Kelvin) ``k``, ``ſ`` ``s``, ``ß`` ``ss``, full-width letters ASCII and composed and
  decomposed accents equal. Used for userNames and the local part of emails.
- ``domain_normalize``: IDNA (RFC 3490, whose nameprep is the same NFKC and case folding) to
  ASCII A-labels, lowercase, without the trailing dot: ``ACME.com.``, ``ａｃｍｅ.com`` and
  ``acme。com`` are all ``acme.com``; ``bücher.de`` is ``xn--bcher-kva.de``. Domains are stored
  this way, and an email's domain is compared this way.
- ``email_key``: ``identity_key(local part) @ domain_normalize(domain)``: the key that makes an
  email unique across the system.
"""

from __future__ import annotations

import unicodedata


def identity_key(value: str) -> str:
    """The caseless key of a userName (or any identifier compared without regard to case)."""
    folded = unicodedata.normalize("NFKC", value.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)


def domain_normalize(value: str) -> str:
    """A domain as stored and compared (see the module docstring). ``ValueError`` when it cannot
    be a domain name (an empty label, a label over 63 characters, a prohibited character)."""
    try:
        ascii_form = value.strip().encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{value!r} is not a domain name.") from None
    return ascii_form.lower().rstrip(".")


def email_domain(email: str) -> str:
    """The normalized domain of an email, or "" when it has none (or one that is no domain)."""
    if "@" not in email:
        return ""
    try:
        return domain_normalize(email.rsplit("@", 1)[1])
    except ValueError:
        return ""


def email_key(email: str) -> str:
    """The key that makes an email unique: equal for every spelling of the same address."""
    local, at, domain = email.strip().rpartition("@")
    if not at:
        return identity_key(email)
    try:
        domain = domain_normalize(domain)
    except ValueError:
        domain = identity_key(domain)
    return f"{identity_key(local)}@{domain}"


def normalize_email(value: str) -> str:
    """The email as shown and stored: trimmed and lowercased (``email_key`` is what compares)."""
    return value.strip().lower()
