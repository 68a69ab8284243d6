from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from provisioning.services import deprovisioning_complete


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(DatabaseError, ConnectionError, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def deprovision_complete(self, deprovisioning_id: int) -> None:
    deprovisioning_complete(deprovisioning_id=deprovisioning_id)
