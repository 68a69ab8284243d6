"""Reads for connections. The operator-facing ones (commands) see every company; anything a
customer or a company user can reach goes through a selector that takes ``company=``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, QuerySet
from django.utils import timezone

from accounts.models import Company
from accounts.selectors import email_domain_holder
from audit.models import AuditEvent
from connections.models import Connection, ConnectionStatus, SigningCertificate, SpKey, SpKeyUse
from core.compiled import CompiledQuery
from core.exceptions import NotFound


def connection_get(*, name: str) -> Connection:
    """The connection named ``name``, or ``NotFound`` (``connection_find`` returns None)."""
    try:
        return Connection.objects.select_related("company", "default_team").get(name=name)
    except Connection.DoesNotExist:
        raise NotFound(f"No connection is named '{name}'.", code="connection_unknown") from None


def connection_find(*, name: str) -> Connection | None:
    return Connection.objects.select_related("company", "default_team").filter(name=name).first()


# Read on every request of a sign-in (and of every SAML endpoint): compiled once per process.
# The connection row alone: its company and default team are read only where a step needs
# them (a JIT creation, a refusal page), and its certificates come from the cached SAML
# configuration. Read afresh on every request, so an admin's change counts at once.
_CONNECTION_BY_NAME = CompiledQuery(lambda name: Connection.objects.filter(name=name))


def connection_name_possible(name: str) -> bool:
    """Could a connection be called ``name`` (not longer than a name can be)?"""
    return len(name) <= 63


def connection_for_sign_in(*, name: str) -> Connection | None:
    """The connection a sign-in URL names, or None."""
    if not connection_name_possible(name):
        return None
    return _CONNECTION_BY_NAME.first(name=name)


def connections_for_email(*, email: str) -> list[Connection]:
    """The active connections of the company that holds the email's domain (a held domain
    covers its subdomains: ``accounts.models.DomainQuerySet.holding``)."""
    holder = email_domain_holder(email=email)
    if holder is None:
        return []
    return list(
        Connection.objects.filter(
            company_id=holder.company_id, status=ConnectionStatus.ACTIVE
        ).order_by("name")
    )


def connection_list(*, company: Company | None = None) -> QuerySet[Connection]:
    connections = Connection.objects.select_related("company", "default_team").prefetch_related(
        "certificates", "sp_keys"
    )
    if company is not None:
        connections = connections.filter(company=company)
    return connections.order_by("name")


def connections_not_disabled(*, company: Company | None) -> QuerySet[Connection]:
    """The company's active and draft connections, SCIM ones first (none for no company)."""
    if company is None:
        return Connection.objects.none()
    return (
        Connection.objects.filter(company=company)
        .exclude(status=ConnectionStatus.DISABLED)
        .order_by("-provisioning", "name")
    )


def connections_signing_on_at(*, url: str) -> QuerySet[Connection]:
    """The connections whose IdP sign-on URL is ``url`` (the development IdP's, for one)."""
    return Connection.objects.filter(sign_on_url=url).order_by("name")


def certificates_expiring(*, within_days: int) -> QuerySet[SigningCertificate]:
    """Certificates of enabled connections (active or draft) that expire within the window and
    have no later replacement on the same connection."""
    horizon = timezone.now() + timedelta(days=within_days)
    replacement = SigningCertificate.objects.filter(
        connection=OuterRef("connection"), not_after__gt=horizon
    )
    return (
        SigningCertificate.objects.select_related("connection", "connection__company")
        .exclude(connection__status=ConnectionStatus.DISABLED)
        .filter(not_after__lte=horizon)
        .exclude(Exists(replacement))
        .order_by("not_after")
    )


def certificate_last_expiries() -> list[tuple[str, datetime]]:
    """(connection name, when its last signing certificate expires) for every enabled
    connection with a certificate: after that moment no response of its IdP can verify."""
    return list(
        Connection.objects.exclude(status=ConnectionStatus.DISABLED)
        .annotate(last_expiry=Max("certificates__not_after"))
        .filter(last_expiry__isnull=False)
        .order_by("name")
        .values_list("name", "last_expiry")
    )


def certificate_describe(certificate: SigningCertificate) -> dict[str, Any]:
    days_left = (certificate.not_after - timezone.now()).days
    return {
        "fingerprint_sha256": certificate.fingerprint_sha256,
        "subject": certificate.subject,
        "not_before": certificate.not_before.isoformat(),
        "not_after": certificate.not_after.isoformat(),
        "days_left": days_left,
        "expired": days_left < 0,
    }


def sp_key_describe(key: SpKey) -> dict[str, Any]:
    return {
        "use": key.use,
        "state": key.state,
        "fingerprint_sha256": key.fingerprint_sha256,
        "not_after": key.not_after.isoformat(),
        "published": key.use == SpKeyUse.ENCRYPTION or key.connection.sign_requests,
    }


def connection_describe(connection: Connection) -> dict[str, Any]:
    """Everything support and operators need about one connection, including the SP values to
    send back to the customer."""
    return {
        "name": connection.name,
        "company": connection.company.slug,
        "status": connection.status,
        "provisioning": connection.provisioning,
        "sign_on_url": connection.sign_on_url,
        "idp_entity_id": connection.idp_entity_id,
        "observed_idp_entity_id": connection.observed_idp_entity_id,
        "metadata_url": connection.metadata_url,
        "metadata_refreshed_at": connection.metadata_refreshed_at
        and connection.metadata_refreshed_at.isoformat(),
        "metadata_failures": connection.metadata_failures,
        "metadata_last_error": connection.metadata_last_error,
        "default_team": connection.default_team.name if connection.default_team else None,
        "allow_idp_initiated": connection.allow_idp_initiated,
        "attribute_mapping": connection.attribute_mapping,
        "certificates": [certificate_describe(c) for c in connection.certificates.all()],
        "sign_requests": connection.sign_requests,
        "require_encryption": connection.require_encryption,
        "slo_url": connection.slo_url,
        "service_provider": {
            "entity_id": connection.sp_entity_id,
            "acs_url": connection.acs_url,
            "metadata_url": connection.sp_entity_id,
            "login_url": connection.login_url,
            "slo_url": connection.slo_service_url,
            "name_id_format": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "keys": [sp_key_describe(key) for key in connection.sp_keys.all()],
        },
        "created_at": connection.created_at.isoformat(),
        "updated_at": connection.updated_at.isoformat(),
    }


def connection_refusal_counts(*, connection: Connection, days: int = 7) -> list[tuple[str, int]]:
    """Refused sign-ins of one connection per error code over the last ``days``, most first."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        AuditEvent.objects.filter(
            connection=connection, action="sso.login_refused", created_at__gte=since
        )
        .values("error_code")
        .annotate(count=Count("id"))
        .order_by("-count", "error_code")
    )
    return [(row["error_code"], row["count"]) for row in rows]


def connection_recent_events(*, connection: Connection, limit: int = 15):
    return AuditEvent.objects.filter(connection=connection).order_by("-created_at", "-id")[:limit]


def connection_unmatched_divisions(
    *, connection: Connection, days: int = 30
) -> list[tuple[str, int]]:
    """Division values (JIT and SCIM) that matched none of the company's teams over the last
    ``days``, each with how many different people sent it, most first; a division that has
    since become a team is left out."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        AuditEvent.objects.filter(
            connection=connection, action="provisioning.team_unmatched", created_at__gte=since
        )
        .values_list("details__asked_for", "target")
        .distinct()
    )
    people: dict[str, set[str]] = {}
    for division, email in rows:
        if division:
            people.setdefault(str(division), set()).add(email)
    teams = set(connection.company.teams.values_list("name", flat=True))
    counts = [
        (division, len(emails)) for division, emails in people.items() if division not in teams
    ]
    return sorted(counts, key=lambda row: (-row[1], row[0]))
