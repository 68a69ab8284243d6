"""Celery tasks: take IDs, call a service, retry what is transient. Queued with on_commit."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone

from core.metrics import DEPROVISIONINGS
from provisioning.deprovisioning import deprovisioning_complete, deprovisioning_record_failure
from provisioning.selectors import deprovisioning_ids_unfinished

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    DatabaseError,
    ConnectionError,
    TimeoutError,
    OSError,
)
# A deprovisioning not done by then is re-queued by the sweep (a lost message, a dead worker).
SWEEP_AFTER = timedelta(minutes=5)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=8)
def deprovisioning_run(self, deprovisioning_id: int) -> None:
    try:
        deprovisioning_complete(deprovisioning_id=deprovisioning_id)
    except TRANSIENT_ERRORS as error:
        deprovisioning_record_failure(
            deprovisioning_id=deprovisioning_id, error=f"{type(error).__name__}: {error}"
        )
        if self.request.retries >= self.max_retries:
            DEPROVISIONINGS.labels("failed").inc()
            logger.error("deprovisioning %s failed for good: %s", deprovisioning_id, error)
            raise
        DEPROVISIONINGS.labels("retried").inc()
        if self.request.is_eager:
            # In-process (no broker) nothing can deliver a retry later, and with
            # task_eager_propagates Celery hands the Retry exception to the caller instead of
            # running it: the next attempt runs now, counted as a retry (without the backoff).
            attempt = self.apply(args=(deprovisioning_id,), retries=self.request.retries + 1)
            if attempt.failed():  # only without task_eager_propagates; else it raised already
                raise attempt.result from None
            return None
        raise self.retry(exc=error, countdown=min(600, 2 ** (self.request.retries + 1))) from None
    except Exception as error:
        # Not transient: recorded for the admin (and retried by the sweep, in case it was).
        DEPROVISIONINGS.labels("failed").inc()
        deprovisioning_record_failure(
            deprovisioning_id=deprovisioning_id, error=f"{type(error).__name__}: {error}"
        )
        raise
    DEPROVISIONINGS.labels("completed").inc()


@shared_task(acks_late=True)
def deprovisioning_sweep() -> int:
    """Re-queue every deprovisioning that should have finished by now. Harmless when the original
    task is still on its way: completing twice changes nothing the second time."""
    ids = deprovisioning_ids_unfinished(requested_before=timezone.now() - SWEEP_AFTER)
    for pk in ids:
        deprovisioning_run.delay(pk)
    if ids:
        logger.warning("re-queued %d unfinished deprovisioning(s)", len(ids))
    return len(ids)
