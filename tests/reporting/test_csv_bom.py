"""CSV exports and Excel: `bom=true` starts the file with the UTF-8 byte-order mark (Excel reads a file without
one in the legacy code page and garbles the diacritics); without it the file starts with its header, as programs
expect. Every route answering `Accept: text/csv` takes it."""

from __future__ import annotations

import csv
import io

import pytest

from app.reporting.indicators import CSV_HEADER

BOM = b"\xef\xbb\xbf"
MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


@pytest.fixture
async def published(client, at, accounts):  # type: ignore[no-untyped-def]
    """An administrator's headers, with March 2025 published (an empty month is enough for the layout)."""
    admin = await accounts.admin()
    at.set(2025, 4, 1, 8, 0)
    created = await client.post("/v1/reports/indicators/snapshots", json={"period": "2025-03"},
                                headers=admin.headers)
    assert created.status_code == 201, created.text
    return admin.headers


def _routes(admin_headers):  # type: ignore[no-untyped-def]
    return [("/v1/reports/indicators", MARCH, admin_headers), ("/v1/public/indicators", {"period": "2025-03"}, {})]


async def test_bom_true_starts_every_csv_export_with_the_utf8_byte_order_mark(client, published):
    for path, params, headers in _routes(published):
        plain = await client.get(path, params=params, headers={**headers, "Accept": "text/csv"})
        marked = await client.get(path, params={**params, "bom": "true"}, headers={**headers, "Accept": "text/csv"})
        assert plain.status_code == marked.status_code == 200, (path, plain.text, marked.text)
        assert not plain.content.startswith(BOM), path
        assert plain.content.startswith(b"agency_code,"), path
        assert marked.content.startswith(BOM + b"agency_code,"), path
        assert marked.content == BOM + plain.content  # nothing else changes
        assert marked.headers["content-type"] == plain.headers["content-type"] == "text/csv; charset=utf-8"
        assert marked.headers["content-disposition"] == plain.headers["content-disposition"]
        # Read as Excel-aware readers do (utf-8-sig), the header is the header, not "\ufeffagency_code".
        rows = list(csv.reader(io.StringIO(marked.content.decode("utf-8-sig"))))
        assert tuple(rows[0]) == CSV_HEADER


async def test_accept_text_csv_with_a_charset_parameter_is_served_as_before(client, published):
    for path, params, headers in _routes(published):
        response = await client.get(path, params=params, headers={**headers, "Accept": "text/csv; charset=utf-8"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert not response.content.startswith(BOM)
        marked = await client.get(path, params={**params, "bom": "1"},
                                  headers={**headers, "Accept": "text/csv; charset=utf-8"})
        assert marked.content.startswith(BOM)


async def test_bom_is_ignored_for_json_and_a_bad_value_is_a_422_on_the_parameter(client, published):
    for path, params, headers in _routes(published):
        answer = await client.get(path, params={**params, "bom": "true"}, headers=headers)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
        assert not answer.content.startswith(BOM) and answer.json()
        bad = await client.get(path, params={**params, "bom": "maybe"}, headers={**headers, "Accept": "text/csv"})
        assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
        assert [e["loc"] for e in bad.json()["errors"]] == [["query", "bom"]]


async def test_the_bom_parameter_is_documented_on_every_csv_route(client):
    spec = (await client.get("/openapi.json")).json()
    csv_routes = [(path, op) for path, item in spec["paths"].items() for op in item.values()
                  if isinstance(op, dict) and "text/csv" in op.get("responses", {}).get("200", {}).get("content", {})]
    assert {path for path, _ in csv_routes} == {"/v1/reports/indicators", "/v1/public/indicators", "/v1/dossiers"}
    for path, op in csv_routes:
        (bom,) = [p for p in op["parameters"] if p["name"] == "bom"]
        assert bom["in"] == "query" and not bom.get("required") and bom["schema"]["default"] is False, path
        assert "byte-order mark" in bom["description"] and "Excel" in bom["description"]
        assert "bom=true" in op["responses"]["200"]["description"], path
