"""Reads for the deprovisioning sweep."""

from __future__ import annotations

from datetime import datetime

from provisioning.models import Deprovisioning


def deprovisioning_ids_unfinished(*, requested_before: datetime, limit: int = 1000) -> list[int]:
    """Deprovisionings requested before then and not completed (for the sweep to re-queue)."""
    stale = Deprovisioning.objects.filter(
        completed_at__isnull=True, requested_at__lt=requested_before
    )
    return list(stale.values_list("pk", flat=True)[:limit])
