"""Who a verified SAML assertion signs in: the identity rules of the SPEC, and JIT creation.

The rules, in order: an email in a domain another company holds is refused, and a company with
domains signs in only emails in its own (a held domain covers its subdomains, see
``DomainQuerySet.holding``); an email of another company's user (or of staff) is refused
without saying whose it is; a deactivated user stays deactivated; in SCIM mode only a user SCIM
created signs in; in JIT mode the first login creates the user, and later logins change nothing.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.exceptions import EmailDomainHeld
from accounts.models import ROLE_RANK, Domain, Role, User, UserSource
from accounts.selectors import (
    SignInRead,
    company_domain_names,
    team_lookup,
    user_and_domain_holder_for_sign_in,
    user_find_for_sign_in,
)
from accounts.services import user_create
from audit.models import Severity
from audit.services import audit_record
from connections.attributes import MappedIdentity
from connections.exceptions import (
    EmailDomainNotAllowed,
    UserDeactivated,
    UserNotProvisioned,
    UserOtherCompany,
)
from connections.models import Connection, Provisioning
from core.exceptions import Conflict


def saml_user_resolve(
    *, connection: Connection, identity: MappedIdentity, read: SignInRead | None = None
) -> User:
    """``read``: the user and held domains the finish step read ahead (used if they were read
    for this identity's email)."""
    user, holder = user_and_domain_holder_for_sign_in(email=identity.email, read=read)
    _check_email_domain(connection, identity.email, holder)
    if user is not None:
        return _existing(connection, user)
    if connection.provisioning == Provisioning.SCIM:
        raise UserNotProvisioned(extra={"email": identity.email, "reason": "no such user"})
    return _jit_create(connection, identity)


def _check_email_domain(connection: Connection, email: str, holder: Domain | None) -> None:
    """A domain is its holder's alone (``holder``: the held domain that makes ``email`` a
    company's, if any); and a company with domains signs in only its own."""
    if holder is not None and holder.company_id == connection.company_id:
        return
    if holder is not None:
        raise EmailDomainNotAllowed(extra={"email": email, "reason": "held by another company"})
    allowed = company_domain_names(company=connection.company)
    if allowed:
        raise EmailDomainNotAllowed(extra={"email": email, "allowed": allowed})


def _existing(connection: Connection, user: User) -> User:
    if user.company_id != connection.company_id:
        # Staff users (no company) cannot sign in through a customer's IdP either.
        raise UserOtherCompany(extra={"email": user.email})
    if not user.is_active:
        raise UserDeactivated(extra={"email": user.email})
    if connection.provisioning == Provisioning.SCIM and user.source != UserSource.SCIM:
        raise UserNotProvisioned(
            extra={"email": user.email, "reason": f"user was created by {user.source}, not SCIM"}
        )
    return user


def jit_role(value: str | None) -> tuple[str, bool]:
    """(role, known): missing → sender; unknown → sender, and the caller warns."""
    if value is None:
        return Role.SENDER, True
    normalized = value.strip().lower()
    if normalized in ROLE_RANK:
        return normalized, True
    return Role.SENDER, False


def _jit_create(connection: Connection, identity: MappedIdentity) -> User:
    role, role_known = jit_role(identity.role)
    team = connection.default_team
    warnings: list[tuple[str, dict]] = []
    if not role_known:
        warnings.append(("provisioning.role_unknown", {"asked_for": identity.role, "used": role}))
    if identity.team:
        exact, near_miss = team_lookup(company=connection.company, name=identity.team)
        if exact is not None:
            team = exact
        else:
            details = {
                "asked_for": identity.team,
                "used": team.name if team else None,
                "did_you_mean": near_miss.name if near_miss else None,
            }
            warnings.append(("provisioning.team_unmatched", details))

    try:
        with transaction.atomic():
            user = user_create(
                email=identity.email,
                company=connection.company,
                first_name=identity.first_name or "",
                last_name=identity.last_name or "",
                # userName is what SCIM looks users up by; without user_name it is the email.
                username=identity.username or identity.email,
                role=role,
                team=team,
                source=UserSource.JIT,
                actor_label=f"jit:{connection.name}",
                audit_details={"connection": connection.name},
            )
            for action, details in warnings:
                audit_record(
                    action=action,
                    connection=connection,
                    actor_label=f"jit:{connection.name}",
                    target=identity.email,
                    severity=Severity.WARNING,
                    details=details,
                )
    except EmailDomainHeld:
        # A domain claimed by another company between the check above and the write.
        raise EmailDomainNotAllowed(
            extra={"email": identity.email, "reason": "held by another company"}
        ) from None
    except (Conflict, IntegrityError):
        # Two first logins of the same person raced and the other one created the user, or the
        # IdP sent a user_name another user of the company already has.
        user = user_find_for_sign_in(email=identity.email)
        if user is None:
            raise UserNotProvisioned(
                extra={
                    "email": identity.email,
                    "reason": f"user_name {identity.username!r} is taken",
                }
            ) from None
        return _existing(connection, user)
    return user
