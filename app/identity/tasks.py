"""The identity domain's periodic work for `dvc worker`: remind organisations and their
representatives of mandates about to end."""

from __future__ import annotations

from app.core.worker import register_task
from app.identity.mandate_events import remind_expiring


async def _remind() -> None:
    await remind_expiring()


register_task("identity.mandate_expiry", 600.0, _remind)
