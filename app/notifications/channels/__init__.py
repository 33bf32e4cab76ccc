"""The channels in use: built from settings (a channel without its settings is off), or installed by tests.

    channels.active()         # {"email": EmailChannel, ...} only the configured ones, in CHANNELS order
    channels.announce()       # log once which channels are on and which are off, and why
    channels.install(SmsChannel(settings, transport=fake.transport))   # tests and the dev server
"""

from __future__ import annotations

import logging

from app.core.settings import Settings, get_settings
from app.notifications.channels.base import Channel, ChannelError, OutgoingMessage
from app.notifications.channels.email import EmailChannel
from app.notifications.channels.sms import SmsChannel
from app.notifications.channels.zalo import ZaloChannel

log = logging.getLogger("app.notifications")

CHANNELS = ("email", "sms", "zalo")
_installed: dict[str, Channel] = {}
_announced = False


def missing_settings(name: str, settings: Settings) -> list[str]:
    """The DVC_* settings a channel still needs (empty: configured)."""
    needed = {
        "email": {"DVC_SMTP_HOST": settings.smtp_host, "DVC_MAIL_FROM": settings.mail_from},
        "sms": {"DVC_SMS_API_KEY": settings.sms_api_key, "DVC_SMS_SECRET_KEY": settings.sms_secret_key,
                "DVC_SMS_BRANDNAME": settings.sms_brandname},
        "zalo": {"DVC_ZALO_ACCESS_TOKEN": settings.zalo_access_token,
                 "DVC_ZALO_TEMPLATE_ID": settings.zalo_template_id},
    }[name]
    return [variable for variable, value in needed.items() if not value]


def _build(name: str, settings: Settings) -> Channel:
    if name == "email":
        return EmailChannel(settings)
    if name == "sms":
        return SmsChannel(settings)
    return ZaloChannel(settings)


def active(settings: Settings | None = None) -> dict[str, Channel]:
    settings = settings or get_settings()
    found: dict[str, Channel] = {}
    for name in CHANNELS:
        if name in _installed:
            found[name] = _installed[name]
        elif not missing_settings(name, settings):
            found[name] = _build(name, settings)
    return found


def install(channel: Channel) -> None:
    _installed[channel.name] = channel


def uninstall_all() -> None:
    _installed.clear()


def announce(*, force: bool = False) -> list[str]:
    """Log, once per process, one line per channel: on (and where it sends) or off (and what is missing)."""
    global _announced
    if _announced and not force:
        return []
    _announced = True
    settings = get_settings()
    on = active(settings)
    lines = []
    for name in CHANNELS:
        if name in on:
            lines.append(f"notification channel {name} on: {on[name].describe()}")
        else:
            lines.append(f"notification channel {name} off: set {', '.join(missing_settings(name, settings))}")
    for name, line in zip(CHANNELS, lines, strict=True):
        log.log(logging.INFO if name in on else logging.WARNING, line)
    return lines


__all__ = ["CHANNELS", "Channel", "ChannelError", "OutgoingMessage", "active", "announce", "install",
           "missing_settings", "uninstall_all"]
