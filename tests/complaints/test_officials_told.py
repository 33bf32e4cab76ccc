"""Officials hear of a new complaint (`complaint.filed` -> complaint_filed): an email to each active official holding
reception or processing at the dossier's agency, with the answer's due time; nobody else, once each, and not after
the complaint was answered or the official stopped answering there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from app.core.db import get_database
from app.core.delivery import Delivery
from app.identity.models import Account
from app.notifications.compose import when
from app.notifications.render import LANGUAGES, STAFF_KINDS, render
from tests.complaints.conftest import Complaints
from tests.notifications.conftest import deliver, message_rows, settle
from tests.reporting.conftest import Clock
from tests.support.identity_fixtures import Accounts, Actor
from tests.support.workflow_fixtures import Flow


def _address(official: Actor) -> str:
    return f"{official.subject}@agency.gov.vn"  # the fixture's address for an official


def _text(message) -> str:  # type: ignore[no-untyped-def]
    return str(message.get_body(preferencelist=("plain",)).get_content())


async def _staff_deliveries() -> list[Delivery]:
    async with get_database().read_sessions() as session:
        return list((await session.execute(select(Delivery).where(Delivery.target.like("official:%"))
                                           .order_by(Delivery.target))).scalars())


async def test_the_officials_who_may_answer_are_emailed_with_the_due_time(
        client, flow: Flow, at: Clock, complaints: Complaints, accounts: Accounts, mail) -> None:
    at.set(2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=5)
    both = await accounts.official(flow.reception.agency_code or "", ["reception", "processing"], name="Võ Thị Hai")
    other_agency = await accounts.official("000.00.99.H99", ["reception"])
    suspended = await accounts.official(flow.reception.agency_code or "", ["processing"])
    await accounts.suspend(suspended)
    admin = await accounts.admin()
    citizen, dossier = await flow.submitted(code, await accounts.citizen(name="Trần Văn Đức", email="duc@example.vn"))
    await deliver()
    await settle()
    submitted = len(mail.messages)
    complaint = await complaints.file(citizen, dossier["id"])
    await deliver()
    await deliver()  # a second pass sends nothing again
    await settle()
    told = mail.messages[submitted:]
    assert sorted(str(m["To"]) for m in told) == sorted(_address(o) for o in (flow.reception, flow.processing, both))
    for nobody in (flow.approval, flow.finance, other_agency, suspended):
        assert mail.to(_address(nobody)) == []
    assert mail.to(f"{admin.subject}@dvc.gov.vn") == []  # a system administrator's rank is no answering role
    due = when(datetime.fromisoformat(complaint["due_at"]), "vi")
    [message] = mail.to(_address(both))
    assert message["Subject"] == f"[{dossier['code']}] Có phản ánh mới cần trả lời trước {due}"
    text = _text(message)
    assert text.startswith("Kính gửi Võ Thị Hai,") and f"Hạn trả lời: {due}." in text
    assert "Trần Văn Đức đã gửi một phản ánh" in text and complaint["text"] not in text
    assert not [r for r in await message_rows() if r.kind == "complaint_filed"]  # applicants' table untouched
    assert {d.state for d in await _staff_deliveries()} == {"delivered"} and len(await _staff_deliveries()) == 3


async def test_no_email_once_answered_or_to_an_official_who_left(
        client, flow: Flow, at: Clock, complaints: Complaints, accounts: Accounts, mail) -> None:
    at.set(2025, 3, 3, 9, 0)
    code = await flow.procedure(processing_days=5)
    citizen, dossier = await flow.submitted(code)
    first = await complaints.file(citizen, dossier["id"])
    await complaints.answered(flow.reception, first["id"])  # answered before any worker ran
    await deliver()
    await settle()
    assert mail.to(_address(flow.reception)) == [] and mail.to(_address(flow.processing)) == []
    assert {d.state for d in await _staff_deliveries()} == {"dead"}  # ended unsent, not retried

    second = await complaints.file(citizen, dossier["id"], kind="feedback")
    await accounts.ensure_agency("000.00.99.H99")
    async with get_database().write_sessions() as session, session.begin():  # moved to another agency meanwhile
        await session.execute(update(Account).where(Account.id == flow.processing.id)
                              .values(agency_code="000.00.99.H99"))
    await deliver()
    await settle()
    assert mail.to(_address(flow.processing)) == []
    [message] = mail.to(_address(flow.reception))
    assert message["Subject"].startswith(f"[{dossier['code']}] Có kiến nghị mới") and second


def test_every_staff_template_renders() -> None:
    for kind in STAFF_KINDS:
        for language in LANGUAGES:
            for complaint_kind in ("complaint", "feedback"):
                context = {"lang": language, "official_name": None, "code": "000.00.12.H23-250303-0001",
                           "complaint_kind": complaint_kind, "procedure_name": "Cấp phép", "agency_name": "Sở KHCN",
                           "applicant_name": None, "filed_at": "-", "due_at": when("2025-03-17T17:00:00+07:00",
                                                                                   language)}
                rendered = render(kind, language, context)
                assert "{{" not in rendered.text and "\n" not in rendered.subject and "17/03/2025" in rendered.subject
                assert 0 < len(rendered.short) <= 160
