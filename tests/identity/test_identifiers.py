"""Vietnamese identification numbers: the tax code check digit against real published codes."""

from __future__ import annotations

import pytest

from app.identity.identifiers import is_citizen_id, is_phone, is_tax_code, tax_check_digit


@pytest.mark.parametrize("code", ["0100109106", "0300588569", "0101248141", "0312345673", "0312345673-001",
                                  "0312345673-999", "001099012345"])
def test_valid_tax_codes(code: str) -> None:
    assert is_tax_code(code)


@pytest.mark.parametrize("code", ["0100109107", "0312345678", "0312345673-000", "0312345673-01", "031234567",
                                  "0312345673001", "03123456731", "", "abcdefghij", "0312345673-abc",
                                  "0100109106\n", "0312345673-001\n", "001099012345\n"])
def test_invalid_tax_codes(code: str) -> None:
    assert not is_tax_code(code)


def test_check_digit_of_ten_means_no_valid_code() -> None:
    # find nine digits whose weighted sum is 0 mod 11: then no tenth digit is valid
    first = next(f"{n:09d}" for n in range(10**6) if tax_check_digit(f"{n:09d}") is None)
    assert not any(is_tax_code(first + str(d)) for d in range(10))


@pytest.mark.parametrize(("value", "ok"), [("001099012345", True), ("00109901234", False),
                                           ("0010990123456", False), ("00109901234a", False),
                                           ("001099012345\n", False)])  # `$` matched before a final newline
def test_citizen_ids(value: str, ok: bool) -> None:
    assert is_citizen_id(value) is ok


@pytest.mark.parametrize(("value", "ok"), [("0912345678", True), ("+84912345678", True), ("02393123456", True),
                                           ("912345678", False), ("+8491234", False), ("09123456789012", False),
                                           ("0912345678\n", False)])
def test_phones(value: str, ok: bool) -> None:
    assert is_phone(value) is ok
