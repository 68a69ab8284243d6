"""SCIM writes, expressed in the services every other entry point uses (accounts.services,
provisioning.services), so a change made by SCIM is validated and audited like any other. Their
``Conflict`` and ``ValidationFailed`` become SCIM errors in one place, the SCIM exception handler.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import Team, User, UserSource, email_domain_check
from accounts.normalize import email_key
from accounts.selectors import team_lookup
from accounts.services import user_create, user_set_source, user_update
from audit.models import Severity
from audit.services import audit_record
from provisioning.scim.authentication import ScimPrincipal
from provisioning.scim.errors import Uniqueness
from provisioning.scim.patch import apply_user_patch
from provisioning.scim.users import UserInput, parse_user, user_to_scim
from provisioning.services import user_deprovision, user_reactivate

# What a taken userName or email is called in SCIM; the SCIM exception handler answers a
# Conflict of the Users endpoints with it too.
USER_TAKEN = "A user with this userName or email already exists."


@transaction.atomic
def scim_user_create(*, principal: ScimPrincipal, data: UserInput) -> User:
    """Create, or take over the same person where the IdP is right to expect it: Okta re-POSTs a
    user it deactivated (reactivate), and a user who first came by JIT is adopted by SCIM."""
    company = principal.company
    # First, so that the answer for an email in another company's domain never depends on
    # whether that company has such a user.
    email_domain_check(company_id=company.pk, email=data.email)
    existing = User.objects.select_for_update().filter(email_key=email_key(data.email)).first()
    if existing is None:
        # One write and one audit event: everything SCIM sets goes into the create.
        # A taken userName is settled by the (company, LOWER(username)) unique index: Conflict.
        return user_create(
            email=data.email,
            company=company,
            username=data.username,
            first_name=data.first_name,
            last_name=data.last_name,
            role=data.role,
            team=_team_for_division(principal, data.email, data.division, previous=""),
            source=UserSource.SCIM,
            is_active=data.active,
            profile=data.profile(),
            actor_label=principal.actor_label,
            audit_details={"connection": principal.connection.name},
        )

    if existing.company_id != company.id:
        # Never say that (or where) the email exists elsewhere.
        raise Uniqueness(USER_TAKEN)
    is_scim_live = (
        existing.source == UserSource.SCIM
        and existing.is_active
        and existing.scim_deleted_at is None
    )
    if is_scim_live:
        raise Uniqueness(USER_TAKEN)
    if existing.source != UserSource.SCIM:
        user_set_source(user=existing, source=UserSource.SCIM, actor_label=principal.actor_label)
    if data.active and (not existing.is_active or existing.scim_deleted_at is not None):
        user_reactivate(
            user=existing, actor_label=principal.actor_label, reason="created again by SCIM"
        )
    return scim_user_apply(principal=principal, user=existing, data=data)


@transaction.atomic
def scim_user_apply(*, principal: ScimPrincipal, user: User, data: UserInput) -> User:
    """Make the user what ``data`` says (a PUT, or a PATCH applied to the current resource)."""
    team = user.team
    if data.division:
        team = _team_for_division(principal, user.email, data.division, previous=user.division)
    elif user.division or data.division_unassigned:
        # The team came from the division the IdP no longer sends, or the IdP removed the
        # division: no team. (A PUT that never sends one keeps a team set through Groups.)
        team = None
    changes = {
        "email": data.email,
        "username": data.username,
        "first_name": data.first_name,
        "last_name": data.last_name,
        "role": data.role,
        "team": team,
        **data.profile(),
    }
    user = user_update(user=user, changes=changes, actor_label=principal.actor_label)
    if data.active and not user.is_active:
        user = user_reactivate(
            user=user, actor_label=principal.actor_label, reason="SCIM active=true"
        )
    elif not data.active and user.is_active:
        user = user_deprovision(
            user=user, actor_label=principal.actor_label, reason="SCIM active=false"
        )
    return user


@transaction.atomic
def scim_user_patch(*, principal: ScimPrincipal, user: User, body: Any, base_url: str) -> User:
    """A PATCH: its operations applied to the user's current SCIM representation, the result
    then read like a PUT, so one code path decides what a user becomes."""
    current = user_to_scim(user, base_url=base_url)
    if "userType" not in current:
        current["userType"] = None  # unassigned stays unassigned through an unrelated PATCH
    data = parse_user(apply_user_patch(current, body))
    return scim_user_apply(principal=principal, user=user, data=data)


def _team_for_division(
    principal: ScimPrincipal, email: str, division: str, *, previous: str
) -> Team | None:
    """The team named ``division``; none (and a warning event, unless the user already had
    this division) when no team has that name. No division, no team."""
    if not division:
        return None
    exact, near_miss = team_lookup(company=principal.company, name=division)
    if exact is not None:
        return exact
    if division != previous:
        audit_record(
            action="provisioning.team_unmatched",
            connection=principal.connection,
            actor_label=principal.actor_label,
            target=email,
            severity=Severity.WARNING,
            details={
                "asked_for": division,
                "used": None,
                "did_you_mean": near_miss.name if near_miss else None,
            },
        )
    return None


@transaction.atomic
def scim_user_delete(*, principal: ScimPrincipal, user: User) -> None:
    user_deprovision(
        user=user, actor_label=principal.actor_label, reason="SCIM DELETE", scim_delete=True
    )
