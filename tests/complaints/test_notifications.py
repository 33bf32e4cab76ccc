"""The applicant hears of the answer (`complaint.answered` -> complaint_answered), by their channels; a filing
sends them nothing."""

from __future__ import annotations

from tests.complaints.conftest import Complaints
from tests.notifications.conftest import deliver, message_rows, settle
from tests.reporting.conftest import Clock
from tests.support.identity_fixtures import Accounts
from tests.support.workflow_fixtures import Flow


async def test_the_answer_is_sent_to_the_applicant(client, flow: Flow, at: Clock, complaints: Complaints,
                                                   accounts: Accounts, mail) -> None:
    at.set(2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=5)
    citizen = await accounts.citizen(name="Trần Văn Đức", email="duc@example.vn")
    _, dossier = await flow.submitted(code, citizen)
    cid = (await complaints.file(citizen, dossier["id"]))["id"]
    await deliver()
    await settle()
    before = [str(m["Subject"]) for m in mail.to("duc@example.vn")]
    assert len(before) == 1 and "Hồ sơ đã được gửi" in before[0]  # the submission's; the complaint sent nothing
    await complaints.answered(flow.reception, cid)
    await deliver()
    await settle()
    answered = [m for m in mail.to("duc@example.vn") if "phản ánh" in str(m["Subject"])]
    assert [str(m["Subject"]) for m in answered] == [f"[{dossier['code']}] Đã trả lời phản ánh, kiến nghị"]
    body = answered[0].get_body(preferencelist=("plain",))
    assert body is not None and "đánh giá mức độ hài lòng" in str(body.get_content())
    kinds = [row.kind for row in await message_rows()]
    assert kinds.count("complaint_answered") == 1
