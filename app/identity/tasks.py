"""The identity domain's periodic work for `dvc worker`: remind organisations and their
representatives of mandates about to end, and tell them when a mandate given in advance begins."""

from __future__ import annotations

from app.core.worker import register_task
from app.identity.mandate_events import announce_started, remind_expiring


async def _remind() -> None:
    await remind_expiring()


register_task("identity.mandate_expiry", 600.0, _remind)


async def _announce_starts() -> None:
    await announce_started()


# Every minute: a term often starts at a local midnight, and the representative may want to act at once.
register_task("identity.mandate_start", 60.0, _announce_starts)
