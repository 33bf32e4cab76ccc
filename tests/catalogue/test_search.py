"""Vietnamese search: accents and case do not matter, ranking is stable, results identical on both databases."""

from __future__ import annotations

import pytest

from app.catalogue.search import search_procedures
from app.catalogue.text import normalise, search_column
from app.core.pagination import PageParams
from tests.support.catalogue_fixtures import Catalogue

NAMES = {
    "S-PHRASE": "Cấp Giấy chứng nhận đăng ký hoạt động lần đầu cho tổ chức khoa học và công nghệ",
    "S-ALL-CLOSE": "Cấp lại Giấy chứng nhận doanh nghiệp",
    "S-ALL-FAR": "Cấp phép cho tổ chức, sau khi có giấy tờ và chứng chỉ được nhận",
    "S-SOME": "Gia hạn giấy phép tiến hành công việc bức xạ",
    "S-DIACRITIC": "Đăng ký kiểm tra nhà nước về chất lượng sản phẩm, hàng hóa nhóm 2 nhập khẩu",
    "S-OTHER": "Khai báo thiết bị X-quang chẩn đoán trong y tế",
}


async def _codes(q: str | None = None, limit: int = 50, **filters: str) -> list[str]:
    from app.core.db import get_database

    async with get_database().read_sessions() as session:
        rows, _ = await search_procedures(session, PageParams(limit=limit, cursor=None), q=q, **filters)  # type: ignore[arg-type]
    return [r.procedure_code for r in rows]


@pytest.fixture
async def corpus(catalogue: Catalogue) -> None:
    await catalogue.agency("A1", "Sở Khoa học và Công nghệ tỉnh Hà Tĩnh")
    await catalogue.field("F1", "Hoạt động khoa học và công nghệ")
    await catalogue.field("F-RAD", "Năng lượng nguyên tử, an toàn bức xạ")
    for code, name in NAMES.items():
        await catalogue.procedure(code, name=name, field_code="F-RAD" if code == "S-OTHER" else "F1",
                                  applicant_kinds=["organisation"] if code == "S-SOME" else ["citizen"])
    await catalogue.procedure("S-DRAFT", name="Cấp giấy chứng nhận nháp", publish=False)


def test_normalise_strips_accents_case_and_d_stroke() -> None:
    assert normalise("Cấp GIẤY chứng nhận") == "cap giay chung nhan"
    assert normalise("Đăng ký, đổi  mới!") == "dang ky doi moi"
    assert normalise("Ứng dụng Ỷ lại ỹ") == "ung dung y lai y"
    assert search_column("Bức xạ") == " buc xa "


async def test_search_without_accents_finds_accented_names_in_rank_order(corpus: None) -> None:
    found = await _codes("cap giay chung nhan")
    # phrase first; then all words close together before all words far apart; then some words
    assert found[:3] == ["S-PHRASE", "S-ALL-CLOSE", "S-ALL-FAR"]
    assert "S-SOME" in found[3:]
    assert "S-DRAFT" not in found  # drafts are not in force


async def test_with_and_without_accents_and_case_give_the_same_answer(corpus: None) -> None:
    assert await _codes("Cấp Giấy Chứng Nhận") == await _codes("cap giay chung nhan")
    assert await _codes("ĐĂNG KÝ kiểm tra") == await _codes("dang ky kiem tra")
    assert (await _codes("dang ky kiem tra"))[0] == "S-DIACRITIC"


async def test_field_and_agency_names_match_below_the_name(corpus: None) -> None:
    found = await _codes("x-quang nang luong")
    assert found[0] == "S-OTHER"
    only_field = await _codes("nguyen tu")  # words only in the field name
    assert only_field == ["S-OTHER"]


async def test_filters_combine_with_search(corpus: None) -> None:
    assert await _codes("giay", applicant_kind="organisation") == ["S-SOME"]
    assert await _codes(field="F-RAD") == ["S-OTHER"]
    assert await _codes(channel="post") == []
    assert len(await _codes(channel="online", online_level="full")) == len(NAMES)


async def test_cursor_pages_cover_every_result_once(corpus: None) -> None:
    from app.core.db import get_database

    everything = await _codes("cap giay chung nhan dang ky")
    seen: list[str] = []
    cursor = None
    async with get_database().read_sessions() as session:
        while True:
            rows, cursor = await search_procedures(session, PageParams(limit=2, cursor=cursor),
                                                   q="cap giay chung nhan dang ky")
            seen += [r.procedure_code for r in rows]
            if cursor is None:
                break
    assert seen == everything and len(seen) == len(set(seen)) >= 4


async def test_a_query_without_words_lists_everything_by_code(corpus: None) -> None:
    assert await _codes("  ,, ") == sorted(NAMES)
