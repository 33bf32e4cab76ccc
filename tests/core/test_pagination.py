from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.pagination import decode_cursor, encode_cursor
from app.core.problems import ProblemError
from tests.support.edges import expect_problem, forged_cursor


# Sort keys are stored values: their text holds no NUL (PostgreSQL stores none) and no lone surrogate (no driver
# sends one; a cursor holding either is refused). Hypothesis draws surrogates unless told not to.
@given(st.lists(st.one_of(st.integers(), st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
                                                 max_size=20),
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


@pytest.mark.parametrize("values", [
    [1, {"u": "00000000-0000-0000-0000-000000000001"}],  # a number where a time goes (UTCDateTime says `object`)
    ["2024-01-01", {"u": "00000000-0000-0000-0000-000000000001"}],
], ids=["number_for_time", "text_for_time"])
async def test_a_forged_cursor_on_a_session_list_is_422(client, accounts, values):
    admin = await accounts.admin()
    response = await client.get(f"/v1/officials?cursor={forged_cursor(values)}", headers=admin.headers)
    assert response.status_code == 422 and response.json()["code"] == "validation_error", response.text


async def test_a_cursor_integer_beyond_64_bits_is_422(client, accounts, dossiers):
    citizen = await accounts.citizen()
    code = await dossiers.procedure("000.00.12.H01")
    draft = await dossiers.draft(client, citizen, code)
    response = await client.get(f"/v1/dossiers/{draft['id']}/notifications?cursor={forged_cursor([10**30])}",
                                headers=citizen.headers)
    assert response.status_code == 422 and response.json()["code"] == "validation_error", response.text


@pytest.mark.parametrize("text", ["\ud800", "a\x00b"], ids=["lone_surrogate", "nul"])
async def test_a_cursor_text_no_database_can_store_is_422(client, catalogue, text):
    # The lists keyed by a code compared the cursor's text with stored codes: a lone surrogate (`"\ud800"` in the
    # cursor's JSON) was a 500 on SQLite, and either was refused by PostgreSQL without naming the cursor.
    await catalogue.procedure("P1")  # an agency, a field and a procedure to page over
    for path in ("/v1/agencies", "/v1/fields", "/v1/procedures"):
        response = await client.get(path, params={"cursor": forged_cursor([text])})
        assert expect_problem(response, 422, "validation_error")["errors"] == [
            {"loc": ["query", "cursor"], "msg": "invalid cursor"}], path


@pytest.mark.parametrize("spelling", ["5_0", "+50", " 50", "50 ", "５０", "٥٠", "5e1", "50.0"])
async def test_a_number_in_the_query_or_path_is_written_in_ascii_digits(client, accounts, spelling):
    # "5_0" read as 50 (Python's int()), so two spellings named one page size, one version, one delivery.
    admin = await accounts.admin()
    response = await client.get("/v1/officials", params={"limit": spelling}, headers=admin.headers)
    assert response.status_code == 422 and response.json()["code"] == "validation_error", response.text
    assert (await client.get("/v1/officials", params={"limit": "50"}, headers=admin.headers)).status_code == 200
    version = await client.get(f"/v1/procedures/1.000001/versions/{spelling}", headers=admin.headers)
    assert version.status_code == 422 and version.json()["code"] == "validation_error", version.text
