"""The worker side of deprovisioning: what the Celery task does once the user is inactive (end
the sessions recorded at login, revoke the person's own OAuth tokens, write the trail). The
request side, which makes the user inactive and queues the task, is ``provisioning.services``."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from accounts.models import User, UserSession
from audit.models import Severity
from audit.services import audit_record
from connections.models import Connection
from provisioning.models import Deprovisioning
from provisioning.oauth import connection_from_resources, is_scim_grant


def _session_store() -> type[SessionBase]:
    return import_module(settings.SESSION_ENGINE).SessionStore


def _end_sessions(user: User, *, before) -> int:
    """Delete the user's recorded sessions that began before ``before``, through the configured
    session engine (so it works for the database, cache and cached_db backends alike)."""
    store = _session_store()
    keys = list(
        UserSession.objects.filter(user=user, created_at__lte=before).values_list(
            "session_key", flat=True
        )
    )
    for key in keys:
        store(session_key=key).delete()
    UserSession.objects.filter(user=user, session_key__in=keys).delete()
    return len(keys)


def _revoke_personal_tokens(user: User, *, before) -> int:
    """Revoke the user's own OAuth tokens issued before ``before``: every one not bound to a
    connection's SCIM API (a SCIM grant the user authorized belongs to the company)."""
    refresh = get_refresh_token_model().objects.filter(
        user=user, revoked__isnull=True, created__lte=before
    )
    access = get_access_token_model().objects.filter(user=user, created__lte=before)
    # Both lists first: revoking a refresh token also deletes its access token.
    refresh = [t for t in refresh if not is_scim_grant(t)]
    access = [t for t in access if not is_scim_grant(t)]
    for token in refresh:
        token.revoke()
    for token in access:
        token.revoke()
    return len(refresh) + len(access)


def _scim_grants_authorized_by(user: User) -> list[Connection]:
    tokens = get_refresh_token_model().objects.filter(user=user, revoked__isnull=True)
    connections = {connection_from_resources(t.resource) for t in tokens}
    return sorted((c for c in connections if c is not None), key=lambda c: c.name)


def deprovisioning_complete(*, deprovisioning_id: int) -> Deprovisioning:
    """End the sessions and revoke the personal OAuth tokens the user had when deactivated,
    and write the trail.

    Idempotent: a completed job is left alone; ending an ended session or revoking a revoked
    token is a no-op. What existed at deactivation is ended even if the user was reactivated
    before this ran (the deactivation happened); what began after it is left alone.
    """
    with transaction.atomic():
        job = (
            Deprovisioning.objects.select_for_update()
            .select_related("user")
            .get(pk=deprovisioning_id)
        )
        if job.completed_at is not None:
            return job
        job.attempts += 1
        job.save(update_fields=["attempts"])
    user = job.user
    # While the user is inactive nobody can start a session, so everything up to now goes; once
    # reactivated, only what existed when this deactivation was requested.
    cutoff = user.deactivated_at if not user.is_active and user.deactivated_at else job.requested_at
    sessions = _end_sessions(user, before=cutoff)
    with transaction.atomic():
        tokens = _revoke_personal_tokens(user, before=cutoff)
    with transaction.atomic():
        job = Deprovisioning.objects.select_for_update().get(pk=job.pk)
        if job.completed_at is not None:
            return job
        job.completed_at = timezone.now()
        job.sessions_ended = sessions
        job.tokens_revoked = tokens
        job.last_error = ""
        job.save(update_fields=["completed_at", "sessions_ended", "tokens_revoked", "last_error"])
        user.refresh_from_db(fields=["is_active"])
        audit_record(
            action="user.deprovisioning_completed",
            company=user.company,
            actor_label="system",
            target=user.email,
            details={
                "sessions_ended": sessions,
                "tokens_revoked": tokens,
                "deprovisioning": job.pk,
                "reactivated_since": user.is_active,
            },
        )
        if not user.is_active:
            for connection in _scim_grants_authorized_by(user):
                audit_record(
                    action="oauth.scim_grant_needs_owner",
                    connection=connection,
                    actor_label="system",
                    target=connection.name,
                    severity=Severity.WARNING,
                    details={
                        "authorized_by": user.email,
                        "message": "The SCIM grant keeps working; have another admin re-authorize it in Okta.",
                    },
                )
    return job


def deprovisioning_record_failure(*, deprovisioning_id: int, error: str) -> None:
    Deprovisioning.objects.filter(pk=deprovisioning_id, completed_at__isnull=True).update(
        last_error=error[:2000]
    )
