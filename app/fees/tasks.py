"""The fees domain's periodic work for `dvc worker`."""

from __future__ import annotations

from app.core.worker import register_task
from app.fees.reconcile import reconcile


async def reconcile_payments() -> None:
    await reconcile()


register_task("payments.reconcile", 60.0, reconcile_payments)
