from __future__ import annotations

import logging

from celery import shared_task

from connections.metadata import connection_refresh_metadata, metadata_refresh_due
from connections.models import Connection
from connections.services import certificates_expiry_warn, saml_state_purge
from core.exceptions import ApplicationError

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def certificates_expiry_check() -> int:
    return certificates_expiry_warn()


@shared_task(acks_late=True)
def saml_state_cleanup() -> int:
    return saml_state_purge()


@shared_task(acks_late=True)
def metadata_refresh_all() -> int:
    """Daily: one refresh task per connection imported from a metadata URL, so that one slow
    IdP (5 s at most) does not hold the others. Returns how many were queued."""
    due = metadata_refresh_due()
    for connection_id in due:
        metadata_refresh.delay(connection_id)
    return len(due)


@shared_task(acks_late=True)
def metadata_refresh(connection_id: int) -> bool:
    """Refresh one connection. A failure is recorded on the connection by the service (and is
    tomorrow's retry); it is not retried here, as the IdP's answer would be the same."""
    connection = Connection.objects.filter(pk=connection_id).select_related("company").first()
    if connection is None or not connection.metadata_url:
        return False
    try:
        connection_refresh_metadata(connection=connection, actor_label="system")
    except ApplicationError as error:
        logger.warning("metadata refresh of %s failed: %s", connection.name, error.message)
        return False
    return True
