"""The dossier's history, steps and notices are paged like every list (API-CONVENTIONS): `?limit=` (1-200,
default 50), `?cursor=`, `{"items", "next_cursor"}`. They answered everything at once and ignored `limit`.

The clock is frozen, so every step ends and every notice is issued at the same moment: the cursors must rest on
the rest of the key (the history seq, then the row id), which is what makes them stable. The steps end with the
step under way, after the completed ones: alone on a last page when they fill the page before.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from tests.support.paging import pages as read_pages
from tests.workflow.test_supplement_and_endings import set_clock

LISTS = ("history", "steps", "notices")


async def _busy_dossier(flow: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """A dossier with 7 history entries, 5 completed steps (and the approval under way) and 3 notices (the
    apology and its explanation issued by one transition), all at one moment."""
    set_clock(monkeypatch, 2025, 3, 3, 9, 0)  # Monday
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)  # receive (the receipt), assign
    for _ in range(3):
        await flow.act(flow.processing, did, "appraise")
    await flow.act(flow.processing, did, "apologise", new_due_date="2025-03-12", reason="Cần xác minh thêm")
    return citizen, did


@pytest.mark.parametrize(("name", "total"), [("history", 7), ("steps", 6), ("notices", 3)])
async def test_following_next_cursor_returns_every_item_once_in_order(client, flow, monkeypatch, name, total):
    _, did = await _busy_dossier(flow, monkeypatch)
    url = f"/v1/dossiers/{did}/{name}"
    whole = (await client.get(url, headers=flow.reception.headers)).json()
    assert len(whole["items"]) == total and whole["next_cursor"] is None  # default limit 50: one page
    for limit in (1, 2, 5):  # 5: the completed steps fill the first page, the step under way is the second
        pages = await read_pages(client, url, flow.reception.headers, limit)
        assert all(len(p["items"]) == limit for p in pages[:-1]) and 1 <= len(pages[-1]["items"]) <= limit
        assert [i for p in pages for i in p["items"]] == whole["items"]  # each once, in the list's order
    if name == "history":
        assert [e["seq"] for e in whole["items"]] == list(range(1, total + 1))
    if name == "steps":
        assert [s["step"] for s in whole["items"]] == ["reception", "assign", "appraise", "appraise", "appraise",
                                                       "approve"]
        assert [s["history_seq"] for s in whole["items"]] == [2, 3, 4, 5, 6, None]
        assert [s["ended_at"] is None for s in whole["items"]] == [False] * 5 + [True]
    if name == "notices":  # the apology and its explanation share their moment and their history entry
        assert whole["items"][0]["kind"] == "receipt"
        assert {n["kind"] for n in whole["items"][1:]} == {"apology", "explanation"}
        assert len({n["id"] for n in whole["items"]}) == total


async def test_the_applicant_pages_through_notices_without_the_internal_ones(client, flow, monkeypatch):
    citizen, did = await _busy_dossier(flow, monkeypatch)
    pages = await read_pages(client, f"/v1/dossiers/{did}/notices", citizen.headers, 1)
    assert [n["kind"] for p in pages for n in p["items"]] == ["receipt", "apology"] and len(pages) == 2


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("query", [
    "limit=0", "limit=201", "limit=x",
    "cursor=bm90LWEtY3Vyc29y",  # base64 of "not-a-cursor"
    f"cursor={_cursor(['seven'])}",  # the history's arity, a seq of the wrong type
    f"cursor={_cursor([{'t': '2025-03-03T09:00:00+07:00'}, 'x', {'u': '00000000-0000-0000-0000-000000000000'}])}",
    f"cursor={_cursor([2**70])}",  # no database integer holds it
    f"cursor={_cursor([True])}",  # a boolean where the history's seq goes: it read as seq 1 (a page, not a 422)
])
async def test_a_bad_limit_or_forged_cursor_is_a_validation_error(client, flow, monkeypatch, name, query):
    _, did = await _busy_dossier(flow, monkeypatch)
    response = await client.get(f"/v1/dossiers/{did}/{name}?{query}", headers=flow.reception.headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"][0]["loc"] == ["query", query.split("=")[0]]


@contextmanager
def _statements() -> Iterator[list[str]]:
    """The SQL statements run through the engines while the block runs."""
    from app.core.db import get_database

    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    database = get_database()
    engines = [database.write_engine.sync_engine]
    if database.read_engine.pool is not database.write_engine.pool:  # PostgreSQL's read engine shares events
        engines.append(database.read_engine.sync_engine)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("name", LISTS)
async def test_a_page_costs_the_same_statements_however_many_items_it_holds(client, flow, monkeypatch, name):
    _, did = await _busy_dossier(flow, monkeypatch)
    url, headers = f"/v1/dossiers/{did}/{name}", flow.reception.headers
    cursor = (await client.get(f"{url}?limit=1", headers=headers)).json()["next_cursor"]  # also warms any cache
    counts = []
    for query in ("limit=1", "limit=200", f"limit=1&cursor={cursor}", f"limit=200&cursor={cursor}"):
        with _statements() as seen:
            response = await client.get(f"{url}?{query}", headers=headers)
        assert response.status_code == 200 and response.json()["items"], response.text
        counts.append(len(seen))
    assert counts[0] > 0 and len(set(counts)) == 1, counts  # no statement per item (no N+1)
