from __future__ import annotations

from celery import shared_task

from connections.services import certificates_expiry_warn, saml_state_purge


@shared_task(acks_late=True)
def certificates_expiry_check() -> int:
    return certificates_expiry_warn()


@shared_task(acks_late=True)
def saml_state_cleanup() -> int:
    return saml_state_purge()
