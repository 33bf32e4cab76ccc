"""Report period edges and rating text a careless client sends: each a clear 422, never a 500."""

from __future__ import annotations

import pytest

from tests.reporting.conftest import finish


@pytest.mark.parametrize("params", [{"from": "9999-12-01", "to": "9999-12-31"}, {"from": "9999-12-31"}])
async def test_a_period_ending_on_the_last_day_of_the_calendar_is_a_422(client, accounts, params):
    # The midnight after `to` bounds the period; 9999-12-31 has none (OverflowError: 500 on both routes).
    admin = await accounts.admin()
    for path, headers in (("/v1/reports/indicators", admin.headers), ("/v1/public/late-dossiers", {})):
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "validation_error"
        assert response.json()["errors"][0]["loc"][0] == "query"


@pytest.mark.parametrize("value", ["1740787200", "0", "2025-03-01T00:00:00Z", "2025-03-01T00:00:00+10:00"])
async def test_a_report_day_that_is_not_yyyy_mm_dd_is_a_422(client, accounts, value):
    # Taken before as a day: epoch seconds as a UTC date, a midnight in any zone as its date, although
    # reports count local days (Asia/Ho_Chi_Minh): a silently different period.
    admin = await accounts.admin()
    for path, headers in (("/v1/reports/indicators", admin.headers), ("/v1/public/late-dossiers", {})):
        for name in ("from", "to"):
            response = await client.get(path, params={name: value}, headers=headers)
            assert response.status_code == 422, (path, name, response.text)
            assert response.json()["errors"][0]["loc"] == ["query", name]
    ok = await client.get("/v1/public/late-dossiers", params={"from": "2025-03-01", "to": "2025-03-31"})
    assert ok.status_code == 200 and ok.json()["from"] == "2025-03-01"


async def test_an_unknown_procedure_filter_is_a_404_not_a_report_of_zeros(client, accounts, dossiers):
    admin = await accounts.admin()
    known = await dossiers.procedure()
    typo = await client.get("/v1/reports/indicators", params={"procedure": known + "x"}, headers=admin.headers)
    assert typo.status_code == 404 and typo.json()["code"] == "not_found", typo.text
    found = await client.get("/v1/reports/indicators", params={"procedure": known}, headers=admin.headers)
    assert found.status_code == 200 and found.json()["procedure"] == known


@pytest.mark.parametrize("comment", ["Hơi\x00chậm", "Hơi chậm\x1b[31m"], ids=["nul", "escape"])
async def test_a_rating_comment_with_control_characters_is_a_422_on_the_comment(client, flow, comment):
    # Officials read the comment: a NUL was stored by SQLite and refused by PostgreSQL with a 422 naming no field.
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    await flow.to_processing(dossier["id"])
    await finish(flow, dossier["id"])
    await flow.act(flow.reception, dossier["id"], "return_result", delivery={"method": "online"})
    url = f"/v1/dossiers/{dossier['id']}/rating"
    refused = await client.post(url, headers=citizen.headers, json={"score": 3, "comment": comment})
    assert refused.status_code == 422, refused.text
    assert [e["loc"] for e in refused.json()["errors"]] == [["body", "comment"]]
    assert (await client.get(url, headers=citizen.headers)).status_code == 404
    lines = await client.post(url, headers=citizen.headers, json={"score": 4, "comment": "Nhanh.\nCảm ơn"})
    assert lines.status_code == 201 and lines.json()["comment"] == "Nhanh.\nCảm ơn", lines.text
