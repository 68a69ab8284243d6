"""Deprovisioning and reactivation: the one place where a user stops (or resumes) being able to
sign in. SCIM (``active=false``, DELETE), the admin and the ``deprovision`` command call these.

This is the request side; the follow-up work (ending sessions, revoking tokens) runs in a Celery
task (``provisioning.tasks.deprovisioning_run``) over ``provisioning/deprovisioning.py``."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.services import audit_record
from provisioning.models import Deprovisioning
from provisioning.tasks import deprovisioning_run


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
        transaction.on_commit(lambda: deprovisioning_run.delay(job.pk))
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
