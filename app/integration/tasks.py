"""The integration domain's periodic work for `dvc worker`: deliver outbox events to the national portal and
to webhook subscribers. Several workers may run these at once (core delivery leases rows, SKIP LOCKED on
PostgreSQL)."""

from __future__ import annotations

from app.core.delivery import Consumer, RunStats, run_consumer
from app.core.worker import register_task
from app.integration.portal import NationalPortalConsumer
from app.integration.portal_progress import NationalPortalProgressConsumer
from app.integration.webhooks import WebhookConsumer

MAX_PASSES = 20  # one pass delivers a batch of 50; keep going while there is work, but yield to other tasks

portal_consumer = NationalPortalConsumer()
# The processing history after the records: the portal takes it only for a record it holds.
progress_consumer = NationalPortalProgressConsumer()
webhook_consumer = WebhookConsumer()


async def drain(consumer: Consumer, max_passes: int = MAX_PASSES) -> RunStats:
    """Passes until one finds nothing to fan out or deliver (or `max_passes`); the summed counts."""
    total = RunStats()
    for _ in range(max_passes):
        stats = await run_consumer(consumer)
        total.fanned_out += stats.fanned_out
        total.delivered += stats.delivered
        total.failed += stats.failed
        total.dead += stats.dead
        if not (stats.fanned_out or stats.delivered or stats.failed or stats.dead):
            break
    return total


async def sync_national_portal() -> None:
    await drain(portal_consumer)
    await drain(progress_consumer)


async def deliver_webhooks() -> None:
    await drain(webhook_consumer)


register_task("integration.national_portal", 2.0, sync_national_portal)
register_task("integration.webhooks", 2.0, deliver_webhooks)
