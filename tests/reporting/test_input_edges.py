"""Report period edges a careless integrator reaches: each a clear 422, never a 500."""

from __future__ import annotations

import pytest


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
