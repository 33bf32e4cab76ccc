"""Masking of recipients: `a***@example.vn`, `09******78`. Used by the API and by every log line and recorded
error of this domain, so a full address never leaves the message table."""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w])\+?\d[\d .-]{7,14}\d(?![\w])")
IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")  # looks like a phone number to PHONE; kept, outages need it


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 4:
        return "*" * len(digits)
    return digits[:2] + "*" * (len(digits) - 4) + digits[-2:]


def mask(recipient: str) -> str:
    return mask_email(recipient) if "@" in recipient else mask_phone(recipient)


def mask_text(text: str) -> str:
    """Any email address or phone-like number in free text (provider errors, SMTP replies), masked."""
    text = EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return PHONE.sub(lambda m: m.group(0) if IPV4.fullmatch(m.group(0)) else mask_phone(m.group(0)), text)
