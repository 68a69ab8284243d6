"""Our (the SP's) keys per connection: made by the product, encrypted at rest, rotated with an
overlap. Writes and reads.

Each connection has an encryption key (its certificate is published in the SP metadata as
``KeyDescriptor use="encryption"``, so an IdP can encrypt assertions to it) and, once it signs
requests, a signing key. Both are made on first need (the metadata, ``connection set
--sign-requests on``...), never at start, so an install without ``SAML_KEY_ENCRYPTION_KEY``
runs until one is needed (see ``connections.key_encryption``).

A rotation has two steps, so that the IdP can take the new certificate before it is used:
``sp_key_rotation_start`` makes a ``next`` key per use, published beside the current one (an
IdP may encrypt to either; both decrypt); ``sp_key_rotation_finish`` makes the next keys current
(they sign from then on) and destroys the previous ones. ``sp_key_rotation_cancel`` drops the
next keys.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from audit.services import audit_record
from connections import saml_sp_crypto
from connections.certificates import format_fingerprint, private_key_pem, self_signed_key_pair
from connections.key_encryption import decrypt_private_key, encrypt_private_key, reencrypt
from connections.models import Connection, SpKey, SpKeyState, SpKeyUse
from connections.selectors import sp_key_describe
from core.exceptions import Conflict, ValidationFailed

# The certificate is only a container for the public key (IdPs read the key from it); it is
# long-lived because SAML trust is in the key itself, and rotation is a deliberate step.
CERTIFICATE_LIFETIME_DAYS = 3650


@dataclass(frozen=True)
class _Material:
    private_key_encrypted: str
    certificate_pem: str
    fingerprint_sha256: str
    not_after: datetime


def _make(connection: Connection, use: str) -> _Material:
    """A new RSA key pair and its self-signed certificate; slow (key generation), so callers run
    it before taking locks."""
    host = urlsplit(settings.BASE_URL).hostname or "sso"
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{connection.name} SAML {use}"[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, host[:64]),
        ]
    )
    key, certificate = self_signed_key_pair(
        name, bits=settings.SAML_SP_KEY_BITS, days=CERTIFICATE_LIFETIME_DAYS
    )
    return _Material(
        private_key_encrypted=encrypt_private_key(private_key_pem(key)),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        fingerprint_sha256=format_fingerprint(certificate.fingerprint(hashes.SHA256())),
        not_after=certificate.not_valid_after_utc,
    )


def _store(connection: Connection, use: str, state: str, material: _Material) -> SpKey:
    return SpKey.objects.create(
        connection=connection,
        use=use,
        state=state,
        private_key_encrypted=material.private_key_encrypted,
        certificate_pem=material.certificate_pem,
        fingerprint_sha256=material.fingerprint_sha256,
        not_after=material.not_after,
    )


def _touch(connection: Connection) -> None:
    """Bump ``updated_at``: what is cached per connection keys on it."""
    connection.updated_at = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(updated_at=connection.updated_at)


def sp_key_ensure(
    *, connection: Connection, use: str, acting_user: User | None = None, actor_label: str = ""
) -> SpKey:
    """The connection's current key for ``use``, made (and audited) if it has none yet.
    Raises ``SpKeysUnavailable`` when it must be made and no encryption key is configured."""
    existing = SpKey.objects.filter(
        connection=connection, use=use, state=SpKeyState.CURRENT
    ).first()
    if existing is not None:
        return existing
    material = _make(connection, use)
    try:
        with transaction.atomic():
            # Serializes two requests that both found no key (the second one reuses the first's).
            Connection.objects.select_for_update().filter(pk=connection.pk).first()
            existing = SpKey.objects.filter(
                connection=connection, use=use, state=SpKeyState.CURRENT
            ).first()
            if existing is not None:
                return existing
            key = _store(connection, use, SpKeyState.CURRENT, material)
            _touch(connection)
            audit_record(
                action="connection.sp_key_created",
                connection=connection,
                actor=acting_user,
                actor_label=actor_label,
                target=connection.name,
                details=sp_key_describe(key),
            )
            return key
    except IntegrityError:  # SQLite has no row locks: the constraint settles the race
        return SpKey.objects.get(connection=connection, use=use, state=SpKeyState.CURRENT)


def sp_keys_published(*, connection: Connection, use: str) -> list[SpKey]:
    """The keys of ``use`` the SP metadata publishes (and that decrypt): current first, then
    the next one during a rotation."""
    return sorted(
        SpKey.objects.filter(connection=connection, use=use),
        key=lambda key: key.state != SpKeyState.CURRENT,
    )


def sp_private_key_pem(key: SpKey) -> bytes:
    return decrypt_private_key(
        key.private_key_encrypted,
        what=f"{key.connection.name} ({key.use}, {key.state}, {key.fingerprint_sha256[:11]}…)",
    )


@functools.lru_cache(maxsize=4096)
def _key_pair(key_id: int, fingerprint: str) -> saml_sp_crypto.SpKeyPair:
    """A stored key loaded for the crypto module, once per process (a key's fingerprint never
    changes; a rotated key has another id)."""
    key = SpKey.objects.select_related("connection").get(pk=key_id)
    return saml_sp_crypto.load_key_pair(
        sp_private_key_pem(key), key.certificate_pem.encode("ascii"), fingerprint
    )


def sp_signing_key_pair(connection: Connection) -> saml_sp_crypto.SpKeyPair:
    """The key that signs the connection's requests (made on first need)."""
    key = sp_key_ensure(connection=connection, use=SpKeyUse.SIGNING)
    return _key_pair(key.pk, key.fingerprint_sha256)


def sp_request_signer(connection: Connection) -> Callable[[bytes], bytes] | None:
    """What signs the connection's HTTP-Redirect requests (AuthnRequest, LogoutRequest, our
    LogoutResponse), or None when it does not sign them."""
    if not connection.sign_requests:
        return None
    signer = sp_signing_key_pair(connection)
    return lambda octets: saml_sp_crypto.sign_octets(octets, signer)


def sp_decrypt(*, connection: Connection, container) -> bytes:
    """The plaintext of an EncryptedAssertion (or EncryptedID) sent to this connection, with
    each of its published encryption keys (the next one too, during a rotation)."""
    keys = [
        _key_pair(key.pk, key.fingerprint_sha256)
        for key in sp_keys_published(connection=connection, use=SpKeyUse.ENCRYPTION)
    ]
    return saml_sp_crypto.decrypt_encrypted_data(container, keys)


def _rotation_uses(connection: Connection) -> list[str]:
    """Encryption always (every connection publishes an encryption key); signing when the
    connection signs requests or has a signing key already."""
    uses = [SpKeyUse.ENCRYPTION]
    has_signing = SpKey.objects.filter(connection=connection, use=SpKeyUse.SIGNING).exists()
    if connection.sign_requests or has_signing:
        uses.append(SpKeyUse.SIGNING)
    return uses


@transaction.atomic
def sp_key_rotation_start(
    *, connection: Connection, acting_user: User | None = None, actor_label: str = ""
) -> list[SpKey]:
    """Make and publish the next key of each use; the current ones keep signing."""
    uses = _rotation_uses(connection)
    for use in uses:
        sp_key_ensure(
            connection=connection, use=use, acting_user=acting_user, actor_label=actor_label
        )
    materials = {use: _make(connection, use) for use in uses}
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    under_way = SpKey.objects.filter(connection=connection, state=SpKeyState.NEXT).first()
    if under_way is not None:
        raise Conflict(
            f"A rotation of the SP keys of {connection.name} is already under way (started "
            f"{under_way.created_at:%Y-%m-%d %H:%M} UTC): finish it once the IdP has the new "
            "certificates, or cancel it."
        )
    keys = [_store(connection, use, SpKeyState.NEXT, materials[use]) for use in uses]
    _touch(connection)
    audit_record(
        action="connection.sp_key_rotation_started",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=connection.name,
        details={"next": [sp_key_describe(key) for key in keys]},
    )
    return keys


def _next_keys(connection: Connection, verb: str) -> list[SpKey]:
    keys = list(SpKey.objects.filter(connection=connection, state=SpKeyState.NEXT))
    if not keys:
        raise ValidationFailed(
            f"No rotation of the SP keys of {connection.name} is under way: nothing to {verb}. "
            "Start one first."
        )
    return keys


@transaction.atomic
def sp_key_rotation_finish(
    *, connection: Connection, acting_user: User | None = None, actor_label: str = ""
) -> list[SpKey]:
    """The next keys become current (they sign from now on); the previous ones are destroyed
    and leave the metadata."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    keys = _next_keys(connection, "finish")
    retired = list(
        SpKey.objects.filter(
            connection=connection,
            state=SpKeyState.CURRENT,
            use__in=[key.use for key in keys],
        )
    )
    details = {"retired": [sp_key_describe(key) for key in retired]}
    SpKey.objects.filter(pk__in=[key.pk for key in retired]).delete()
    for key in keys:
        key.state = SpKeyState.CURRENT
        key.save(update_fields=["state"])
    _touch(connection)
    audit_record(
        action="connection.sp_key_rotation_finished",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=connection.name,
        details={**details, "current": [sp_key_describe(key) for key in keys]},
    )
    return keys


@transaction.atomic
def sp_key_rotation_cancel(
    *, connection: Connection, acting_user: User | None = None, actor_label: str = ""
) -> int:
    """Drop the next keys (the IdP must not have switched to them)."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    keys = _next_keys(connection, "cancel")
    details = {"dropped": [sp_key_describe(key) for key in keys]}
    SpKey.objects.filter(pk__in=[key.pk for key in keys]).delete()
    _touch(connection)
    audit_record(
        action="connection.sp_key_rotation_cancelled",
        connection=connection,
        actor=acting_user,
        actor_label=actor_label,
        target=connection.name,
        details=details,
    )
    return len(keys)


@transaction.atomic
def sp_keys_reencrypt(*, actor_label: str = "") -> int:
    """Re-encrypt every stored SP private key with the first key of SAML_KEY_ENCRYPTION_KEY
    (after a rotation of that key). All or nothing."""
    count = 0
    touched: dict[int, Connection] = {}
    for key in SpKey.objects.select_related("connection", "connection__company").select_for_update(
        of=("self",)
    ):
        key.private_key_encrypted = reencrypt(
            key.private_key_encrypted, what=f"{key.connection.name} ({key.use}, {key.state})"
        )
        key.save(update_fields=["private_key_encrypted"])
        touched[key.connection_id] = key.connection
        count += 1
    for connection in touched.values():
        audit_record(
            action="connection.sp_keys_reencrypted",
            connection=connection,
            actor_label=actor_label,
            target=connection.name,
        )
    return count
