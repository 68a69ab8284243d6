"""Deprovisioning and reactivation: the one place where a user stops (or resumes) being able to
sign in. SCIM (``active=false``, DELETE), the admin and the ``deprovision`` command call these."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils import timezone

from accounts.models import User, UserSession
from audit.models import Severity
from audit.services import audit_record
from provisioning.models import Deprovisioning


@transaction.atomic
def user_deprovision(
    *,
    user: User,
    acting_user: User | None = None,
    actor_label: str = "",
    reason: str = "",
    scim_delete: bool = False,
) -> User:
    """The user is inactive when this returns; a task queued on commit ends their sessions and
    revokes their tokens. Calling it again for an inactive user changes nothing (but a SCIM
    DELETE still marks the user deleted)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    now = timezone.now()
    fields = []
    if scim_delete and user.scim_deleted_at is None:
        user.scim_deleted_at = now
        fields.append("scim_deleted_at")
    was_active = user.is_active
    if was_active:
        user.is_active = False
        user.deactivated_at = now
        fields += ["is_active", "deactivated_at"]
    if not fields:
        return user
    user.updated_at = now
    user.save(update_fields=[*fields, "updated_at"])
    audit_record(
        action="user.scim_deleted" if scim_delete else "user.deprovisioned",
        company=user.company,
        actor=acting_user,
        actor_label=actor_label,
        target=user.email,
        details={"reason": reason[:500]},
    )
    if was_active:
        job = Deprovisioning.objects.create(user=user, reason=reason[:500])
        from provisioning.tasks import deprovision_complete

        transaction.on_commit(lambda: deprovision_complete.delay(job.pk))
    return user


@transaction.atomic
def user_reactivate(
    *, user: User, acting_user: User | None = None, actor_label: str = "", reason: str = ""
) -> User:
    """The mirror of ``user_deprovision``: the user may sign in again (also after a SCIM DELETE,
    when the IdP creates the same person again)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active and user.scim_deleted_at is None:
        return user
    user.is_active = True
    user.deactivated_at = None
    user.scim_deleted_at = None
    user.updated_at = timezone.now()
    user.save(update_fields=["is_active", "deactivated_at", "scim_deleted_at", "updated_at"])
    audit_record(
        action="user.reactivated",
        company=user.company,
        actor=acting_user,
        actor_label=actor_label,
        target=user.email,
        details={"reason": reason[:500]},
    )
    return user


def _session_store() -> type[SessionBase]:
    return import_module(settings.SESSION_ENGINE).SessionStore


def _end_sessions(user: User) -> int:
    """Delete every recorded session of the user through the configured session engine (so it
    works for the database, cache and cached_db backends alike)."""
    store = _session_store()
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    UserSession.objects.filter(user=user, session_key__in=keys).delete()
    return len(keys)


def _personal_tokens(user: User):
    """The user's own OAuth tokens: every one not bound to a connection's SCIM API. A SCIM grant
    the user authorized belongs to the company and keeps working."""
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    from provisioning.oauth import is_scim_grant

    access = [t for t in get_access_token_model().objects.filter(user=user) if not is_scim_grant(t)]
    refresh = [
        t
        for t in get_refresh_token_model().objects.filter(user=user, revoked__isnull=True)
        if not is_scim_grant(t)
    ]
    scim = [
        t
        for t in get_refresh_token_model().objects.filter(user=user, revoked__isnull=True)
        if is_scim_grant(t)
    ]
    return access, refresh, scim


def _revoke_personal_tokens(user: User) -> tuple[int, list[str]]:
    access, refresh, scim = _personal_tokens(user)
    for token in refresh:
        token.revoke()  # revokes its access token too
    for token in access:
        token.revoke()
    return len(access) + len(refresh), sorted({_grant_connection(t) for t in scim})


def _grant_connection(token) -> str:
    from provisioning.oauth import connection_from_resources

    connection = connection_from_resources(token.resource)
    return connection.name if connection else "?"


def deprovisioning_complete(*, deprovisioning_id: int) -> Deprovisioning:
    """End every session of the user, revoke their personal OAuth tokens, write the trail.

    Idempotent: a completed job is left alone; ending an ended session or revoking a revoked
    token is a no-op. A job whose user was reactivated in the meantime completes without
    touching anything.
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
    sessions = tokens = 0
    grants_needing_owner: list[str] = []
    if not user.is_active:
        sessions = _end_sessions(user)
        with transaction.atomic():
            tokens, grants_needing_owner = _revoke_personal_tokens(user)
    with transaction.atomic():
        job = Deprovisioning.objects.select_for_update().get(pk=job.pk)
        if job.completed_at is not None:
            return job
        job.completed_at = timezone.now()
        job.sessions_ended = sessions
        job.tokens_revoked = tokens
        job.last_error = ""
        job.save(update_fields=["completed_at", "sessions_ended", "tokens_revoked", "last_error"])
        audit_record(
            action="user.deprovisioning_completed",
            company=user.company,
            actor_label="system",
            target=user.email,
            details={
                "sessions_ended": sessions,
                "tokens_revoked": tokens,
                "deprovisioning": job.pk,
                "skipped": "user was reactivated" if user.is_active else "",
            },
        )
        for connection_name in grants_needing_owner:
            audit_record(
                action="oauth.scim_grant_needs_owner",
                company=user.company,
                actor_label="system",
                target=connection_name,
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
