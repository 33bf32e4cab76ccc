"""A code in the path with a control character names nothing: 404 `not_found` on both databases (PostgreSQL
refused a NUL in the lookup, a 422 naming no parameter, where SQLite found nothing)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.catalogue_fixtures import Catalogue
from tests.support.edges import expect_problem
from tests.support.identity_fixtures import Accounts

# Every route with a code (a string, not a UUID or a number) in its path, as (method, path with {} for the code).
ROUTES = [
    ("GET", "/v1/agencies/{}"),
    ("PATCH", "/v1/agencies/{}"),
    ("GET", "/v1/procedures/{}"),
    ("GET", "/v1/procedures/{}/versions"),
    ("POST", "/v1/procedures/{}/versions"),
    ("GET", "/v1/procedures/{}/versions/1"),
    ("PATCH", "/v1/procedures/{}/versions/1"),
    ("POST", "/v1/procedures/{}/versions/1/publish"),
    ("POST", "/v1/procedures/{}/versions/1/retire"),
    ("POST", "/v1/procedures/{}/versions/1/cancel"),
    ("GET", "/v1/public/dossiers/{}"),
    ("GET", "/v1/fields/{}"),
    ("GET", "/v1/payments/providers/{}/callback"),
]
# A NUL first (what differed), alone, inside and last; then other C0 and C1 controls, DEL, and a line feed.
CODES = ["%00", "P1%00", "P%001", "%00P1", "P1%01", "P1%1F", "P1%7F", "P1%C2%85", "P1%0A"]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_a_code_with_a_control_character_is_not_found(
        client: httpx.AsyncClient, accounts: Accounts, catalogue: Catalogue, method: str, path: str) -> None:
    await catalogue.procedure("P1")
    admin = await accounts.admin()
    headers = {**admin.headers, "If-Match": "*"}
    for code in CODES:
        response = await client.request(method, path.format(code), headers=headers, json={})
        expect_problem(response, 404, "not_found")
    assert (await client.get("/v1/procedures/P1")).json()["version"] == 1  # the real code is still found


async def test_the_gate_and_the_length_limit_answer_first(client: httpx.AsyncClient) -> None:
    """Checked with the other path parameters: after the route's dependencies, as a code that is not there."""
    anonymous = await client.get("/v1/procedures/P%001/versions/1")
    expect_problem(anonymous, 401, "token_missing")
    too_long = await client.get(f"/v1/public/dossiers/{'X' * 100}%00")
    assert expect_problem(too_long, 422, "validation_error")["errors"][0]["loc"] == ["path", "code"]
