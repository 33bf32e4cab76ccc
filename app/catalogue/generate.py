"""Many plausible procedures at once, for benchmarks (search over 10,000) and load tests.

Rows are written in bulk, with the same search columns the services maintain, so a benchmark measures
search and not the import path. Names are built from Vietnamese catalogue vocabulary so that words repeat
across procedures the way they do in a real catalogue.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue.models import Agency, AgencyLevel, Field, Procedure, ProcedureVersion, VersionStatus
from app.catalogue.text import search_column
from app.core import clock

ACTIONS = ["Cấp", "Cấp lại", "Gia hạn", "Điều chỉnh", "Thu hồi", "Đăng ký", "Xác nhận", "Công bố", "Thẩm định",
           "Phê duyệt", "Sửa đổi, bổ sung", "Chấm dứt"]
OBJECTS = ["giấy phép", "giấy chứng nhận", "chứng chỉ hành nghề", "văn bản chấp thuận", "quyết định công nhận",
           "giấy xác nhận", "hồ sơ công bố", "thông báo"]
DOMAINS = ["hoạt động khoa học và công nghệ", "kinh doanh xăng dầu", "hoạt động xây dựng", "an toàn thực phẩm",
           "tiến hành công việc bức xạ", "hoạt động đo lường", "chuyển giao công nghệ", "sở hữu công nghiệp",
           "đủ điều kiện kinh doanh dược", "hành nghề khám bệnh, chữa bệnh", "lữ hành nội địa",
           "bảo vệ môi trường", "đất đai", "hộ tịch", "đăng ký kinh doanh hộ gia đình", "vận tải hành khách"]
QUALIFIERS = ["cho tổ chức", "cho cá nhân", "đối với doanh nghiệp nhỏ và vừa", "trong y tế", "cấp tỉnh",
              "cấp xã", "nhập khẩu", "sản xuất trong nước", "", ""]
FIELD_NAMES = ["Khoa học và công nghệ", "Công thương", "Xây dựng", "Y tế", "Tư pháp", "Tài nguyên và môi trường",
               "Giao thông vận tải", "Văn hóa, thể thao và du lịch"]
PART = {"key": "don_de_nghi", "name": "Đơn đề nghị", "required": True, "media_types": ["application/pdf"],
        "max_bytes": 10 * 1024 * 1024, "original_at_desk": False, "copies": 1, "template_url": None}


async def generate_procedures(session: AsyncSession, n: int, *, agency_code: str = "GEN.AGENCY",
                              prefix: str = "GEN", seed: int = 42, batch: int = 1000) -> list[str]:
    """Insert `n` published procedures (codes `{prefix}-000001`...) under one agency; returns the codes.

    Creates the agency and eight fields when missing. The caller commits."""
    rng = random.Random(seed)
    if await session.scalar(select(Agency.id).where(Agency.code == agency_code)) is None:
        session.add(Agency(code=agency_code, name="Sở Khoa học và Công nghệ (dữ liệu sinh)",
                           level=AgencyLevel.department))
    fields = [(f"{prefix}-F{i}", name) for i, name in enumerate(FIELD_NAMES)]
    existing = set((await session.execute(select(Field.code))).scalars())
    session.add_all([Field(code=code, name=name, agency_code=agency_code) for code, name in fields
                     if code not in existing])
    await session.flush()
    start = clock.now() - timedelta(days=1)
    codes: list[str] = []
    for offset in range(0, n, batch):
        procedures, versions = [], []
        for i in range(offset + 1, min(n, offset + batch) + 1):
            code = f"{prefix}-{i:06d}"
            name = " ".join(w for w in (rng.choice(ACTIONS), rng.choice(OBJECTS), rng.choice(DOMAINS),
                                        rng.choice(QUALIFIERS)) if w)
            field_code, field_name = rng.choice(fields)
            kinds = rng.choice([["citizen"], ["organisation"], ["citizen", "organisation"]])
            channels = rng.choice([["online"], ["online", "desk"], ["online", "desk", "post"], ["desk"]])
            tags = [f"channel:{c}" for c in channels] + [f"applicant:{k}" for k in kinds]
            procedures.append({"code": code})
            versions.append({
                "procedure_code": code, "version": 1, "status": VersionStatus.published, "name": name,
                "agency_code": agency_code, "field_code": field_code,
                "online_level": rng.choice(["full", "partial", "direct"]), "applicant_kinds": kinds,
                "channels": channels, "processing_days": rng.randint(1, 30), "clock_on_supplement": "pause",
                "document_parts": [PART], "fee_items": [], "result": {"name": "Giấy phép", "electronic": True,
                                                                       "must_be_signed": True},
                "form_schema": None, "workflow": "standard", "legal_basis": None, "step_time_limits": [],
                "sample": True, "valid_from": start, "valid_to": None,
                "search_name": search_column(name),
                "search_extra": search_column(field_name, "Sở Khoa học và Công nghệ (dữ liệu sinh)"),
                "facets": f" {' '.join(tags)} ",
            })
            codes.append(code)
        await session.execute(insert(Procedure), procedures)
        await session.execute(insert(ProcedureVersion), versions)
    return codes
