"""SCIM writes, expressed in the services every other entry point uses (accounts.services,
provisioning.services), so a change made by SCIM is validated and audited like any other."""

from __future__ import annotations

import uuid

from django.db import transaction

from accounts.models import Team, User, UserSource
from accounts.selectors import team_lookup
from accounts.services import user_create, user_set_source, user_update
from audit.models import Severity
from audit.services import audit_record
from core.exceptions import Conflict, ValidationFailed
from provisioning.scim.authentication import ScimPrincipal
from provisioning.scim.errors import InvalidValue, Uniqueness
from provisioning.scim.users import UserInput
from provisioning.services import user_deprovision, user_reactivate

_TAKEN = "A user with this userName or email already exists."


def scim_users(principal: ScimPrincipal):
    """Every user SCIM may see for this caller: its company's, not deleted. The one place the
    tenant filter is written."""
    return User.objects.filter(
        company=principal.company, scim_deleted_at__isnull=True
    ).select_related("team")


def parse_scim_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError):
        return None


def scim_user_get(principal: ScimPrincipal, scim_id: str) -> User | None:
    key = parse_scim_id(scim_id)
    return scim_users(principal).filter(scim_id=key).first() if key else None


@transaction.atomic
def scim_user_create(*, principal: ScimPrincipal, data: UserInput) -> User:
    """Create, or take over the same person where the IdP is right to expect it: Okta re-POSTs a
    user it deactivated (reactivate), and a user who first came by JIT is adopted by SCIM."""
    company = principal.company
    existing = User.objects.select_for_update().filter(email=data.email).first()
    if existing is None:
        # A taken userName is settled by the (company, LOWER(username)) unique index: Conflict.
        try:
            user = user_create(
                email=data.email,
                company=company,
                username=data.username,
                source=UserSource.SCIM,
                actor_label=principal.actor_label,
                audit_details={"connection": principal.connection.name},
            )
        except Conflict:
            raise Uniqueness(_TAKEN) from None
        except ValidationFailed as error:
            raise InvalidValue(error.message) from None
        return scim_user_apply(principal=principal, user=user, data=data)

    if existing.company_id != company.id:
        # Never say that (or where) the email exists elsewhere.
        raise Uniqueness(_TAKEN)
    is_scim_live = (
        existing.source == UserSource.SCIM
        and existing.is_active
        and existing.scim_deleted_at is None
    )
    if is_scim_live:
        raise Uniqueness(_TAKEN)
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
        team = _team_for_division(principal, user, data.division)
    elif user.division:
        team = None  # the team came from the division the IdP no longer sends
    changes = {
        "email": data.email,
        "username": data.username,
        "first_name": data.first_name,
        "last_name": data.last_name,
        "role": data.role,
        "division": data.division,
        "team": team,
        "external_id": data.external_id,
    }
    try:
        user = user_update(user=user, changes=changes, actor_label=principal.actor_label)
    except Conflict:
        raise Uniqueness(_TAKEN) from None
    except ValidationFailed as error:
        raise InvalidValue(error.message) from None
    if data.active and not user.is_active:
        user = user_reactivate(
            user=user, actor_label=principal.actor_label, reason="SCIM active=true"
        )
    elif not data.active and user.is_active:
        user = user_deprovision(
            user=user, actor_label=principal.actor_label, reason="SCIM active=false"
        )
    return user


def _team_for_division(principal: ScimPrincipal, user: User, division: str) -> Team | None:
    exact, near_miss = team_lookup(company=principal.company, name=division)
    if exact is not None:
        return exact
    if division != user.division:
        audit_record(
            action="provisioning.team_unmatched",
            connection=principal.connection,
            actor_label=principal.actor_label,
            target=user.email,
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
