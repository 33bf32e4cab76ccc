"""The notifications domain's periodic work for `dvc worker`: deliver due messages on every channel."""

from __future__ import annotations

from app.core.worker import register_task
from app.notifications import channels
from app.notifications.consumer import deliver_notifications


async def _deliver() -> None:
    await deliver_notifications()


channels.announce()  # the worker imports this module once at start: say which channels are on and off
register_task("notifications.deliver", 5.0, _deliver)
