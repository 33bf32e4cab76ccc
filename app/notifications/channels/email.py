"""Email over SMTP (aiosmtplib): a multipart message (plain text + HTML, the notice PDF attached).

Headers with Vietnamese diacritics are RFC 2047 encoded and bodies are UTF-8, by `email.policy.default`
(EmailMessage) when the message is serialised. The Message-ID is derived from the event and channel, so a
message resent after a crash (between sending and recording) can be recognised as the same one by the receiver.
"""

from __future__ import annotations

from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import Policy
from email.utils import formatdate, parseaddr

import aiosmtplib

from app.core.settings import Settings
from app.notifications.channels.base import ChannelError, OutgoingMessage
from app.notifications.masking import mask_text


class _Subject(str):
    """A Subject folded by `email.header.Header` (RFC 2047 encoded words of at most 78 characters a line).

    `email.policy`'s own folder drops the space where it breaks a line between encoded words ("bổ sung, hoàn"
    arrives as "bổ sung,hoàn"); Header keeps spaces inside the encoded words. The policy calls `fold` on a
    header value that has a `name` (EmailPolicy._fold), so only the Subject takes this path."""

    name = "Subject"

    def fold(self, *, policy: Policy) -> str:
        encoded = Header(str(self), "utf-8", header_name=self.name).encode(linesep=policy.linesep, maxlinelen=78)
        return f"{self.name}: {encoded}{policy.linesep}"


def build_email(message: OutgoingMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = _Subject(message.subject) if not message.subject.isascii() else message.subject
    email["Date"] = formatdate(localtime=False)
    domain = parseaddr(sender)[1].partition("@")[2] or "dvc.local"
    email["Message-ID"] = f"<{message.reference}@{domain}>"
    email.set_content(message.text, charset="utf-8")
    email.add_alternative(message.html, subtype="html", charset="utf-8")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.media_type.partition("/")
        email.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return email


class EmailChannel:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.user = settings.smtp_user or None
        self.password = settings.smtp_password or None
        self.starttls = settings.smtp_starttls
        self.timeout = settings.smtp_timeout_s
        self.sender = settings.mail_from
        # Fail at start, not at the first message, on an unusable sender.
        Address(addr_spec=parseaddr(self.sender)[1])

    def describe(self) -> str:
        return f"SMTP {self.host}:{self.port}{' STARTTLS' if self.starttls else ''} from {self.sender}"

    async def send(self, message: OutgoingMessage) -> None:
        email = build_email(message, self.sender)
        try:
            await aiosmtplib.send(email, hostname=self.host, port=self.port, username=self.user,
                                  password=self.password, start_tls=self.starttls, timeout=self.timeout)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise ChannelError(mask_text(f"SMTP {type(error).__name__}: {error}")) from None
