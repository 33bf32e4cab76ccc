"""Every day a client sends is a local day written YYYY-MM-DD (app.core.clock.LocalDay). pydantic's `date` also
took epoch seconds (`1764892800` as 2025-12-05, a UTC day) and a midnight in any zone as its date: a calendar
override, a list filter or an apology's new date silently on another day than the one meant."""

from __future__ import annotations

import pytest

from tests.support.edges import expect_problem

NOT_DAYS = ["1764892800", "0", "2026-12-05T00:00:00Z", "2026-12-05T00:00:00+10:00", "2026-W49-6"]


@pytest.mark.parametrize("value", NOT_DAYS)
async def test_days_in_paths_and_queries_are_yyyy_mm_dd(client, accounts, value):
    admin = await accounts.admin()
    clerk = await accounts.official("000.00.12.H01", ["reception"])
    override = await client.put(f"/v1/calendar/overrides/{value}", headers=admin.headers,
                                json={"working": True, "note": "thử"})
    assert [e["loc"] for e in expect_problem(override, 422, "validation_error")["errors"]] == [["path", "date"]]
    for path, name, headers, others in [("/v1/calendar/working-days", "from", {}, {"to": "2026-12-31"}),
                                        ("/v1/calendar/overrides", "from", admin.headers, {}),
                                        ("/v1/dossiers", "submitted_from", clerk.headers, {}),
                                        ("/v1/dossiers", "submitted_to", clerk.headers, {}),
                                        ("/v1/payments", "created_from", clerk.headers, {}),
                                        ("/v1/payments", "created_to", clerk.headers, {})]:
        response = await client.get(path, params={name: value, **others}, headers=headers)
        assert [e["loc"] for e in expect_problem(response, 422, "validation_error")["errors"]] == [["query", name]]


async def test_a_day_in_a_body_is_yyyy_mm_dd(client, accounts, dossiers):
    code = await dossiers.procedure("000.00.12.H01")
    citizen = await accounts.citizen()
    processor = await accounts.official("000.00.12.H01", ["processing"])
    dossier = await dossiers.submitted(client, citizen, code)
    for value in (1764892800, "1764892800", "2026-12-05T00:00:00+07:00"):
        response = await client.post(f"/v1/dossiers/{dossier['id']}/transitions",
                                     headers={**processor.headers, "If-Match": "*"},
                                     json={"action": "apologise", "reason": "Chậm", "new_due_date": value})
        body = expect_problem(response, 422, "validation_error")
        assert [e["loc"] for e in body["errors"]] == [["body", "new_due_date"]]
