"""Session 11 audit of the catalogue: search paging, odd form schemas, deep import bodies, retired versions,
and the status shown while a publication is scheduled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.catalogue import versions
from app.core import clock
from tests.support.catalogue_fixtures import ADMIN, Catalogue, procedure_body
from tests.support.edges import expect_problem

# --- 1. search paging: every row's rank inside its band ----------------------------------------------------

PAGING_NAMES = {
    "Q-PHRASE": "Cấp Giấy chứng nhận đăng ký hoạt động khoa học",
    "Q-CLOSE-A": "Cấp lại Giấy chứng nhận doanh nghiệp",
    "Q-CLOSE-B": "Cấp mới Giấy chứng nhận hộ kinh doanh",  # same span as Q-CLOSE-A: the code breaks the tie
    "Q-FAR": "Cấp phép cho tổ chức, sau khi có giấy tờ và chứng chỉ được nhận",
    "Q-SOME": "Gia hạn giấy phép tiến hành công việc bức xạ",
    "Q-SOME-2": "Đăng ký giấy chứng minh nhân dân",
    "Q-DIACRITIC": "Đăng ký kiểm tra nhà nước về chất lượng hàng hóa nhập khẩu",
    "Q-OTHER": "Khai báo thiết bị X-quang chẩn đoán trong y tế",
}
QUERIES = ["cap giay chung nhan", "Cấp Giấy Chứng Nhận", "CAP GIAY CHUNG NHAN", "giay chung", "đăng ký giấy",
           "dang ky giay chung nhan", "nhan cap", "cap giay chung nhan khoa hoc cong nghe", "nang luong giay"]


@pytest.fixture
async def paging_corpus(catalogue: Catalogue) -> None:
    await catalogue.agency("A1", "Sở Khoa học và Công nghệ tỉnh Hà Tĩnh")
    await catalogue.field("F1", "Hoạt động khoa học và công nghệ")
    await catalogue.field("F-RAD", "Năng lượng nguyên tử, an toàn bức xạ")
    for code, name in PAGING_NAMES.items():
        await catalogue.procedure(code, name=name, field_code="F-RAD" if code == "Q-OTHER" else "F1")


async def _follow(client: httpx.AsyncClient, q: str, limit: int) -> list[str]:
    seen: list[str] = []
    params: dict[str, Any] = {"q": q, "limit": limit}
    for _ in range(len(PAGING_NAMES) + 2):
        page = (await client.get("/v1/procedures", params=params)).json()
        seen += [item["code"] for item in page["items"]]
        if page["next_cursor"] is None:
            return seen
        params["cursor"] = page["next_cursor"]
    raise AssertionError(f"paging {q!r} does not end: {seen}")


async def test_paging_one_by_one_gives_the_same_sequence_as_one_page(client: httpx.AsyncClient,
                                                                      paging_corpus: None) -> None:
    whole = [item["code"] for item in (await client.get("/v1/procedures", params={
        "q": "cap giay chung nhan", "limit": 200})).json()["items"]]
    # phrase > all words close together (tie by code) > all words far apart > some words
    assert whole[:4] == ["Q-PHRASE", "Q-CLOSE-A", "Q-CLOSE-B", "Q-FAR"]
    assert set(whole[4:]) == {"Q-SOME", "Q-SOME-2"}
    for q in QUERIES:
        everything = [item["code"] for item in (await client.get("/v1/procedures", params={
            "q": q, "limit": 200})).json()["items"]]
        assert everything, q
        for limit in (1, 2, 3):
            assert await _follow(client, q, limit) == everything, (q, limit)


# --- 2. form_schema shapes JSON Schema allows but the catalogue does not: 422, never a 500 -------------------

def _schema(**prop: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"a": {"type": "string", **prop}}}


ODD_SCHEMAS = [
    _schema(type=["string", "null"]),
    _schema(type={"anyOf": ["string"]}),
    _schema(type=1),
    _schema(format=["date"]),
    _schema(format={"x": 1}),
    {**_schema(), "required": [["a"]]},
    {**_schema(), "required": [{"a": 1}]},
    {**_schema(), "required": [1]},
    {**_schema(), "required": "a"},
    {"type": ["object"], "properties": {}},
    {"type": {"object": 1}, "properties": {}},
    {"type": "object", "properties": []},
    {"type": "object", "properties": {"a": ["string"]}},
    {"type": "object", "properties": {"a": {"enum": {"x": 1}}}},
    # bounds the dossier form check reads (app.dossiers.formcheck): text or lists there were a 500 at filing
    _schema(maxLength="x"),
    _schema(minLength=[1]),
    _schema(maxLength=-1),
    _schema(maxLength=True),
    {"type": "object", "properties": {"a": {"type": "number", "minimum": "1"}}},
    {"type": "object", "properties": {"a": {"type": "integer", "maximum": [10]}}},
    {**_schema(), "additionalProperties": "no"},
]


@pytest.mark.parametrize("schema", ODD_SCHEMAS)
async def test_an_odd_form_schema_is_a_422_on_create_patch_and_import(client: httpx.AsyncClient, accounts,  # type: ignore[no-untyped-def]
                                                                       catalogue: Catalogue,
                                                                       schema: dict[str, Any]) -> None:
    await catalogue.agency("A1")
    await catalogue.field("F1")
    admin = await accounts.admin()
    created = await client.post("/v1/procedures", json=procedure_body("P-FORM", form_schema=schema),
                                headers=admin.headers)
    assert expect_problem(created, 422, "validation_error")["errors"][0]["loc"] == ["body", "form_schema"]
    await catalogue.procedure("P-DRAFT", publish=False)
    patched = await client.patch("/v1/procedures/P-DRAFT/versions/1", json={"form_schema": schema},
                                 headers={**admin.headers, "If-Match": '"1"'})
    assert expect_problem(patched, 422, "validation_error")["errors"][0]["loc"] == ["body", "form_schema"]
    doc = {"procedures": [procedure_body("P-IMPORT", form_schema=schema)]}
    imported = await client.post("/v1/catalogue/import", json=doc, headers=admin.headers)
    error = expect_problem(imported, 422, "validation_error")["errors"][0]
    assert error["loc"] == ["body", "procedures", 0, "form_schema"] and error["pointer"] == "/procedures/0/form_schema"
    assert (await client.get("/v1/procedures/P-IMPORT/versions")).status_code == 404


async def test_a_well_formed_form_schema_still_passes(client: httpx.AsyncClient, accounts,  # type: ignore[no-untyped-def]
                                                      catalogue: Catalogue) -> None:
    await catalogue.agency("A1")
    await catalogue.field("F1")
    admin = await accounts.admin()
    schema = {"type": "object", "properties": {"a": {"type": "string", "format": "date"}, "b": {"enum": [1, "x"]},
                                               "c": {"type": "string", "minLength": 1, "maxLength": 9},
                                               "d": {"type": "number", "minimum": 0.5, "maximum": 10}},
              "required": ["a"], "additionalProperties": False}
    created = await client.post("/v1/procedures", json=procedure_body("P-FORM", form_schema=schema),
                                headers=admin.headers)
    assert created.status_code == 201 and created.json()["form_schema"] == schema


# --- 3. a body nested past the parser's recursion: the same 422 as on every other route ---------------------

async def test_a_deeply_nested_import_body_is_a_422_like_elsewhere(client: httpx.AsyncClient, accounts,  # type: ignore[no-untyped-def]
                                                                   catalogue: Catalogue) -> None:
    admin = await accounts.admin()
    headers = {**admin.headers, "content-type": "application/json"}
    deep = b"[" * 100_000 + b"]" * 100_000
    elsewhere = await client.post("/v1/agencies", content=deep, headers=headers)
    expected = expect_problem(elsewhere, 422, "validation_error")
    imported = await client.post("/v1/catalogue/import", content=deep, headers=headers)
    body = expect_problem(imported, 422, "validation_error")
    assert (body["detail"], body["errors"][0]["loc"], body["errors"][0]["type"]) == (
        expected["detail"], expected["errors"][0]["loc"], expected["errors"][0]["type"])
    inside = b'{"procedures": [{"form_schema": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    expect_problem(await client.post("/v1/catalogue/import", content=inside, headers=headers), 422,
                   "validation_error")


# --- 4. a retired version was published: changing it is 409 version_published ------------------------------

async def test_writes_on_a_retired_version_answer_version_published(client: httpx.AsyncClient, accounts,  # type: ignore[no-untyped-def]
                                                                    catalogue: Catalogue) -> None:
    code = await catalogue.procedure("P-RET")
    draft = await catalogue.draft(code, processing_days=3)
    async with catalogue.session() as session, session.begin():
        await versions.publish(session, ADMIN, code, draft, if_match="*")
    admin = await accounts.admin()
    patched = await client.patch(f"/v1/procedures/{code}/versions/1", json={"processing_days": 4},
                                 headers={**admin.headers, "If-Match": "*"})
    expect_problem(patched, 409, "version_published")
    published = await client.post(f"/v1/procedures/{code}/versions/1/publish", json={},
                                  headers={**admin.headers, "If-Match": "*"})
    expect_problem(published, 409, "version_published")
    history = (await client.get(f"/v1/procedures/{code}/versions")).json()["items"]
    assert [(v["version"], v["status"], v["processing_days"]) for v in history] == [
        (1, "retired", 10), (2, "published", 3)]


# --- 5. a scheduled publication: the version in force is shown as published until the new one starts ------

async def test_a_scheduled_publication_leaves_the_current_version_shown_in_force(
        client: httpx.AsyncClient, accounts, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    code = await catalogue.procedure("P-SCHED", name="Cấp giấy phép hẹn giờ")
    draft = await catalogue.draft(code, processing_days=4)
    start = clock.now() + timedelta(days=10)
    async with catalogue.session() as session, session.begin():
        await versions.publish(session, ADMIN, code, draft, start, if_match="*")

    current = (await client.get(f"/v1/procedures/{code}")).json()
    assert (current["version"], current["status"]) == (1, "published")
    assert current["valid_to"] is not None
    found = (await client.get("/v1/procedures", params={"q": "cap giay phep hen gio"})).json()["items"]
    assert [(v["code"], v["version"], v["status"]) for v in found] == [(code, 1, "published")]
    history = (await client.get(f"/v1/procedures/{code}/versions")).json()["items"]
    assert [(v["version"], v["status"]) for v in history] == [(1, "published"), (2, "published")]
    assert history[0]["valid_to"] == history[1]["valid_from"]
    admin = await accounts.admin()
    patched = await client.patch(f"/v1/procedures/{code}/versions/1", json={"processing_days": 2},
                                 headers={**admin.headers, "If-Match": "*"})
    expect_problem(patched, 409, "version_published")
    retired = await client.post(f"/v1/procedures/{code}/versions/1/retire", json={},
                                headers={**admin.headers, "If-Match": "*"})
    assert "already ends at" in expect_problem(retired, 409, "conflict")["detail"]

    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=1))
    current = (await client.get(f"/v1/procedures/{code}")).json()
    assert (current["version"], current["status"]) == (2, "published")
    history = (await client.get(f"/v1/procedures/{code}/versions")).json()["items"]
    assert [(v["version"], v["status"]) for v in history] == [(1, "retired"), (2, "published")]
