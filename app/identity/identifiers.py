"""Vietnamese identification numbers (DOMAIN.md "Identifiers"): checked on registration, never trusted blindly."""

from __future__ import annotations

import re

# Matched whole (fullmatch): `$` also matches before a trailing newline, and a phone number "0912345678\n" was
# stored and sent to the SMS provider as such.
CITIZEN_ID = re.compile(r"[0-9]{12}")
TAX_CODE = re.compile(r"([0-9]{10})(?:-([0-9]{3}))?")
HOUSEHOLD_OWNER = re.compile(r"[0-9]{12}")
PHONE = re.compile(r"(\+84|0)[0-9]{9,10}")

# General Department of Taxation check digit: weights on the first nine digits, check = 10 - (sum mod 11).
_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def tax_check_digit(first_nine: str) -> int | None:
    """The tenth digit for `first_nine`, or None when no digit can be valid (the formula gives 10)."""
    check = 10 - sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS, strict=True)) % 11
    return None if check == 10 else check


def is_citizen_id(value: str) -> bool:
    return bool(CITIZEN_ID.fullmatch(value))


def is_tax_code(value: str) -> bool:
    """10 digits with a valid check digit, optionally `-NNN` (001-999) for a dependent unit, or a household
    business's 12-digit owner number."""
    if HOUSEHOLD_OWNER.fullmatch(value):
        return True
    match = TAX_CODE.fullmatch(value)
    if match is None:
        return False
    base, unit = match.groups()
    if unit == "000":
        return False
    return tax_check_digit(base[:9]) == int(base[9])


def is_phone(value: str) -> bool:
    return bool(PHONE.fullmatch(value))
