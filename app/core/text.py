"""Free text people read (names, addresses, reasons, descriptions): no control characters.

PostgreSQL refuses a NUL in text (a 422 naming no field) while SQLite stores it, and the text is printed on
receipts and notices and sent on to other systems. One rule for every domain, used as a pydantic validator.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import AfterValidator, BeforeValidator

from app.core.problems import not_found

# Unicode's control characters (category Cc, fixed by the standard): C0, DEL and C1. One regex search instead of
# a category lookup per character: every text field of every request goes through here.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control_characters(value: str, allowed: str = "") -> bool:
    return any(c not in allowed for c in _CONTROL.findall(value)) if allowed else _CONTROL.search(value) is not None


def is_valid_unicode(value: str) -> bool:
    """Whether UTF-8 can carry `value`. Python's JSON parser turns `"\\ud800"` into a lone surrogate, which no
    database driver can send: SQLite's raised UnicodeEncodeError (a 500), PostgreSQL's refused the parameter.
    Pydantic's constrained strings refuse one already; text that reaches the database another way (a cursor, a
    token claim) is checked with this."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_storable_text(value: str) -> bool:
    """Whether every database can store `value`: no NUL (PostgreSQL refuses one, SQLite stores it) and valid
    Unicode (a lone surrogate breaks both drivers)."""
    return "\x00" not in value and is_valid_unicode(value)


def storable_text(value: str) -> str:
    """`value` as every database can store it: a NUL and a lone surrogate written out as Python escapes (`\\x00`,
    `\\ud800`), anything else unchanged. For text we keep but do not control (another system's error message, a
    provider's callback fields): refusing it is not ours to do, and PostgreSQL refused a NUL (SQLite stored it)
    while a lone surrogate broke both drivers, so the write that kept it failed."""
    if is_storable_text(value):
        return value
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def plain_text(value: str, allowed: str = "\n\r\t") -> str:
    """`value` when it has no control characters but those `allowed`; else ValueError (a 422 on the field)."""
    if has_control_characters(value, allowed):
        raise ValueError("must not contain control characters")
    return value


def legible_text(value: str, allowed: str = "\n\t") -> str:
    """Plain text that shows something: not only invisible characters (a zero-width space is no reason)."""
    plain_text(value, allowed)
    if value and not any(unicodedata.category(c)[0] not in "CZ" for c in value):
        raise ValueError("must contain visible text")
    return value


def without_controls(allowed: str = "\n\r\t") -> AfterValidator:
    """The validator of plain_text, for Annotated[str, ...] types; None passes, for Annotated[str | None, ...] (a
    null agency_code in a resync body was a TypeError, a 500)."""
    return AfterValidator(lambda value: value if value is None else plain_text(value, allowed))


PLAIN = without_controls()
# One line of text: a name, or a filter value such as an agency code in a query (a NUL reached the database, where
# SQLite matched nothing and PostgreSQL refused it with a 422 naming no parameter).
ONE_LINE = without_controls("")


def path_code(what: str) -> AfterValidator:
    """For a path parameter that names a record by its code (an agency, a procedure, a dossier to track): a code
    with control characters (or that UTF-8 cannot carry) names no record, since none is created with one, so it
    is a 404 `not_found` decided here, before the database is asked. PostgreSQL refused a NUL in the lookup (a 422
    naming no parameter) where SQLite found nothing (a 404).

    The validator raises the problem itself, not a ValueError (which would be a 422): pydantic lets any other
    exception through, and FastAPI checks path parameters after the route's dependencies (authentication, rate
    limits), so those answer first as for any other code. For path parameters only: in a body it would be a 404."""

    def nameable(value: str) -> str:
        if has_control_characters(value) or not is_valid_unicode(value):
            raise not_found(what)
        return value

    return AfterValidator(nameable)


_DECIMAL = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() also takes "²" and Devanagari digits


def _decimal_digits(value: object) -> object:
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise ValueError("must be a whole number written in the digits 0-9 only")
    return value


# For integers read from a query or a path, where every value is text: pydantic's lax mode reads "5_0" as 50 and
# " 7 " or "+7" as 7 (Python's int()), so two spellings named one page size or version. Sign, spaces and
# separators are refused (a 422); JSON bodies keep their own typing.
DECIMAL_DIGITS = BeforeValidator(_decimal_digits)
