"""What the SAML flows remember between requests: pending requests, used assertion and logout
message IDs, the verified sign-in handed from the ACS to the finish step, and the SAML side of
a signed-in session."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from connections.models.connection import Connection

# --- state of sign-ins in flight ------------------------------------------------------------
# Kept in the database (shared by every web process), never in process memory, so any process
# can finish any login. Expired rows are purged periodically; lookups ignore them anyway.


class PendingAuthnRequest(models.Model):
    """An SP-initiated AuthnRequest awaiting its response. Consumed once.

    ``browser_binding`` is the SHA-256 of a random value kept in a cookie of the browser that
    started the login: the response only completes in that browser.

    On PostgreSQL the table is UNLOGGED (migration 0009), as ``VerifiedSignIn``'s: a row lives
    minutes, so neither ``/login/``'s insert nor the ACS's consumption waits for a disk flush.
    A server crash empties it: a response to a request started before the crash is refused
    (``saml_in_response_to_mismatch``, as for any request we do not know) and the person
    signs in again. Nothing is accepted that would not be otherwise.
    """

    request_id = models.CharField(max_length=100, unique=True)
    # No foreign key constraint in the database: checking it locks the connection's row, a WAL
    # record the insert's commit would wait to flush (see VerifiedSignIn.connection).
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    browser_binding = models.CharField(max_length=64)
    next_path = models.CharField(max_length=2000, blank=True)
    test_login = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id} ({self.connection_id})"


class SeenAssertion(models.Model):
    """Assertion IDs already accepted, for replay detection; kept until the assertion expires."""

    # Indexed as the first column of seen_assertion_unique (no second index to write).
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    assertion_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "assertion_id"], name="seen_assertion_unique"
            )
        ]

    def __str__(self) -> str:
        return self.assertion_id


class VerifiedSignIn(models.Model):
    """A response that passed every check at the ACS, waiting for the same browser to come back
    on a same-site request (where its session cookie is visible) to finish the sign-in; and,
    until its assertion expires, the ACS's memory of that assertion ID (replay).

    The ACS is a cross-site POST, on which a SameSite=Lax session cookie is not sent; finishing
    on a same-site GET is what lets us see who is already signed in (no silent session swap)
    and check the browser binding of an SP-initiated request.

    The ACS writes this row and nothing else (one statement): its unique (connection,
    assertion ID) refuses a second use of the assertion there. The finish step takes it
    (``token_hash`` emptied: used up, kept for the replay check until ``remember_until``) and
    records the assertion in ``SeenAssertion`` in the transaction that signs the person in.

    On PostgreSQL the table is UNLOGGED (migration 0006): a row lives minutes, so its writes
    skip the WAL and the ACS's commit waits for no disk flush. A server crash empties it:
    sign-ins in flight are lost (the person signs in again), and an assertion whose sign-in
    had finished is still refused, at its finish step, by the durable ``SeenAssertion``.
    """

    # NULL once used: unique among the pending ones only (every database allows many NULLs).
    # Unique by a constraint (Meta), not unique=True, which on PostgreSQL adds a second index
    # for LIKE 'prefix%' that nothing uses and every take would write.
    token_hash = models.CharField(max_length=64, null=True)  # noqa: DJ001
    # No foreign key constraint in the database: checking it locks the connection's row, a
    # WAL record that the ACS's commit would then wait to flush (the whole point of the
    # unlogged table). Django deletes these rows with their connection all the same (on_delete
    # is carried out by the ORM), and a row naming a connection that is gone matches nothing.
    connection = models.ForeignKey(
        Connection,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,  # the first column of verified_sign_in_assertion_unique
    )
    assertion_id = models.CharField(max_length=200)
    identity = models.JSONField()
    request_id = models.CharField(max_length=100, blank=True)
    browser_binding = models.CharField(max_length=64, blank=True)
    next_path = models.CharField(max_length=2000, blank=True)
    test_login = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)  # the hand-off: minutes
    remember_until = models.DateTimeField(db_index=True)  # the assertion ID (replay)
    # The keys the finish step reads the user and the email's held domain by, from the email the
    # connection's mapping read at the ACS (accounts.selectors.sign_in_lookup): on PostgreSQL the
    # take reads them with the take itself (connections.sign_in.take). Used only if the mapping
    # still reads the same email at the finish step; empty when it read none.
    user_lookup = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "assertion_id"], name="verified_sign_in_assertion_unique"
            ),
            models.UniqueConstraint(fields=["token_hash"], name="verified_sign_in_token_unique"),
        ]

    def __str__(self) -> str:
        return f"sign-in via {self.connection_id} at {self.created_at:%H:%M:%S}"


# --- Single Logout ---------------------------------------------------------------------------


class SamlSession(models.Model):
    """How the IdP named the person of a session signed in through a connection: a LogoutRequest
    names them the same way (NameID with its format and qualifiers, SessionIndex). One per
    recorded session; it goes when the session record does (sign-out, deprovisioning, SLO)."""

    user_session = models.OneToOneField(
        "accounts.UserSession",
        to_field="session_key",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="saml",
    )
    # Indexed as the first column of saml_session_name_id (no second index to write).
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    name_id = models.CharField(max_length=1000)
    name_id_format = models.CharField(max_length=200, blank=True)
    name_qualifier = models.CharField(max_length=1000, blank=True)
    sp_name_qualifier = models.CharField(max_length=1000, blank=True)
    session_index = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["connection", "name_id"], name="saml_session_name_id")]

    def __str__(self) -> str:
        return f"{self.name_id} via {self.connection_id}"


class PendingLogoutRequest(models.Model):
    """A LogoutRequest we sent (SP-initiated Single Logout), awaiting the IdP's LogoutResponse."""

    request_id = models.CharField(max_length=100, unique=True)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    name_id = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id} ({self.connection_id})"


class SeenLogoutMessage(models.Model):
    """IDs of verified logout messages from an IdP, for replay detection; kept until the message
    would be refused as stale anyway."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "message_id"], name="seen_logout_message_unique"
            )
        ]

    def __str__(self) -> str:
        return self.message_id
