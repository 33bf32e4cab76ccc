"""Form 06 of Circular 01/2018/TT-VPCP as CSV: the dossier register (sổ theo dõi hồ sơ), `GET /v1/dossiers` with
`Accept: text/csv`.

The whole filtered list, not a page: read page after page by the list's own keyset (app.dossiers.listing: the
same statement, so the same visibility in SQL and the same filters and order), REGISTER_PAGE rows at a time, each
page's lines sent before the next is read. Memory stays at one page however long the register, and no database
connection is held while the client reads. Every page is judged as of the moment the download began.

The columns (REGISTER_COLUMNS, stable: add new ones at the end only) and their values:
- times in Asia/Ho_Chi_Minh as ISO 8601 with the offset (`2025-03-03T10:00:00+07:00`), empty when not yet;
- `Trạng thái`: the state key (`processing`, ...), `Mã trạng thái quốc gia`: its national status code (1-10);
- `Tiến độ`: a dossier whose result was issued or that was stopped is `Trước hạn` (done on a day before its
  original due date), `Đúng hạn` (on that day, in time) or `Quá hạn` (after it: an apology's new date does not
  excuse, as in the reports); an open one `Quá hạn` when it is `overdue` (the list's rule and filter) and
  `Trong hạn` otherwise; empty without a due date (not received) or when refused or withdrawn.
Text that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) is prefixed
with an apostrophe: the register is made to be opened in Excel, and names are typed by applicants.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from app.core import clock
from app.core.csvexport import csv_lines
from app.core.pagination import PageParams
from app.dossiers import listing
from app.dossiers.access import Viewer
from app.dossiers.schemas import DossierFilters
from app.workflow.deadlines import TIMELINESS_VI, timeliness

REGISTER_PAGE = 500
REGISTER_COLUMNS = ("Mã hồ sơ", "Mã thủ tục", "Tên thủ tục", "Cơ quan giải quyết", "Người nộp hồ sơ", "Kênh nộp",
                    "Ngày nộp", "Ngày tiếp nhận", "Hạn trả kết quả", "Hạn trả ban đầu", "Ngày có kết quả",
                    "Trạng thái", "Mã trạng thái quốc gia", "Tiến độ")
JUDGED_WHEN_FINISHED = frozenset({"processed", "returned", "stopped"})  # as the reports count finished dossiers
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _time(moment: datetime | None) -> str:
    return "" if moment is None else clock.local(moment).isoformat(timespec="seconds")


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _progress(row: Mapping[str, Any], extras: Mapping[str, Any]) -> str:
    due = extras["original_due_at"] or row["due_at"]
    if row["finished_at"] is not None:
        if row["state"] not in JUDGED_WHEN_FINISHED or due is None:
            return ""
        return TIMELINESS_VI[timeliness(row["finished_at"], due)]
    if extras["overdue"]:
        return TIMELINESS_VI["late"]
    return "Trong hạn" if row["due_at"] is not None else ""


def _line(row: Mapping[str, Any], extras: Mapping[str, Any]) -> list[Any]:
    return [row["code"] or "", row["procedure_code"], _text(row["procedure_name"]), row["agency_code"],
            _text(row["applicant_name"]), row["channel"], _time(row["submitted_at"]), _time(row["received_at"]),
            _time(row["due_at"]), _time(extras["original_due_at"]), _time(row["finished_at"]), row["state"],
            row["national_status_code"], _progress(row, extras)]


async def register_chunks(viewer: Viewer, filters: DossierFilters) -> AsyncIterator[str]:
    """The register's CSV text, a page of lines at a time. The first page is read before this returns, so that a
    failure there is an error answer rather than a broken download."""
    now = clock.now()
    first = await listing.list_dossiers(viewer, filters, PageParams(limit=REGISTER_PAGE, cursor=None), now=now)

    async def chunks() -> AsyncIterator[str]:
        yield csv_lines([REGISTER_COLUMNS])
        rows, cursor = first
        while True:
            yield csv_lines(_line(row, extras) for row, extras in rows)
            if cursor is None:
                return
            rows, cursor = await listing.list_dossiers(viewer, filters, PageParams(limit=REGISTER_PAGE, cursor=cursor),
                                                       now=now)

    return chunks()


def file_name() -> str:
    return f"so-theo-doi-ho-so-{clock.local(clock.now()):%Y%m%d}.csv"
