from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.pagination import decode_cursor, encode_cursor
from app.core.problems import ProblemError


@given(st.lists(st.one_of(st.integers(), st.text(max_size=20),
                          st.datetimes(timezones=st.just(UTC)), st.uuids()), min_size=1, max_size=3))
def test_cursor_round_trips(values: list[object]) -> None:
    assert decode_cursor(encode_cursor(values), len(values)) == values


@pytest.mark.parametrize("cursor", ["!!!", "e30", encode_cursor([1, 2, 3])])
def test_bad_cursor_is_a_validation_problem(cursor: str) -> None:
    with pytest.raises(ProblemError) as caught:
        decode_cursor(cursor, 2)
    assert caught.value.code == "validation_error"


def test_cursor_keeps_types() -> None:
    moment = datetime(2025, 1, 22, 3, 0, tzinfo=UTC)
    ident = uuid.uuid4()
    assert decode_cursor(encode_cursor([moment, ident]), 2) == [moment, ident]
