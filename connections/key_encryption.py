"""SP private keys encrypted at rest with the key from the environment (``SAML_KEY_ENCRYPTION_KEY``).

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) through ``MultiFernet``: the first key
of the list encrypts, every key decrypts, so the environment key rotates by putting a new one
first, re-encrypting (``manage.py connection reencrypt-sp-keys``), then dropping the old one.

Outside debug the settings refuse to start without the variable (config/settings.py); the
``SpKeysUnavailable`` refusals here remain for a key list that cannot read a stored key (a key
dropped before ``reencrypt-sp-keys`` ran) and for settings changed at run time. In debug, unset
means a key made once under ``var/`` (never committed), like the dev IdP's.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from core.exceptions import ApplicationError

VARIABLE = "SAML_KEY_ENCRYPTION_KEY"
_GENERATE = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class SpKeysUnavailable(ApplicationError):
    """An SP key is needed and cannot be made or read: the operator's configuration."""

    code = "sp_keys_unavailable"
    http_status = 503


def _debug_key_file() -> Path:
    return Path(settings.BASE_DIR) / "var" / "saml-key-encryption-key"


def _debug_key() -> str:
    path = _debug_key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once never overwrite each other's key.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(Fernet.generate_key().decode())
    return path.read_text().strip()


def _keys() -> list[str]:
    keys = list(settings.SAML_KEY_ENCRYPTION_KEYS)
    if keys:
        return keys
    if settings.DEBUG:
        return [_debug_key()]
    raise SpKeysUnavailable(
        f"{VARIABLE} is not set, so SP keys (for signed requests, encrypted assertions and the "
        f"SP metadata) can be neither made nor read. Set it to a key made with {_GENERATE} "
        "and restart."
    )


def require_available() -> None:
    """Raise ``SpKeysUnavailable`` now if SP keys could be neither made nor read (a form checks
    before it turns on what needs them)."""
    _keys()


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode("ascii")) for key in _keys()])


def encrypt_private_key(pem: bytes) -> str:
    return _fernet().encrypt(pem).decode("ascii")


def decrypt_private_key(token: str, *, what: str) -> bytes:
    """The PEM of a stored key; ``what`` names it in the error (connection and key)."""
    try:
        return _fernet().decrypt(token.encode("ascii"))
    except InvalidToken:
        raise SpKeysUnavailable(
            f"The SP private key of {what} cannot be decrypted with {VARIABLE}: the key that "
            "encrypted it is no longer in the list. Put it back (after the new one) and run "
            "manage.py connection reencrypt-sp-keys."
        ) from None


def reencrypt(token: str, *, what: str) -> str:
    """The same private key encrypted with the first key of the list (for a rotation of the
    environment key)."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SpKeysUnavailable(
            f"The SP private key of {what} cannot be decrypted with {VARIABLE}; "
            "nothing was re-encrypted."
        ) from None
