"""A realistic world for the seeded contract fuzz (tests/contract/test_schemathesis_seeded.py), built through the
app's own API and services: an agency tree, published procedures (fees, required parts), a draft version for each
catalogue action, an official holding every role, a citizen, an organisation with a representative, an
integration client with a webhook subscription and a dead delivery, dossiers in every interesting state
(draft, submitted, payment_requested, received, processing, supplement_requested, processed, returned), their
attachments, notices, an online payment with a refund, a rating, complaints (open and answered), a calendar override,
a signing key for each agency.

Each destructive operation gets resources of its own (`ids[...]` lists), so that deleting one draft or cancelling
one version leaves the others to the rest of the run, whatever the order the tests run in.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.catalogue_fixtures import Catalogue
from tests.support.dossier_fixtures import DEFAULT_PARTS, PDF, Dossiers
from tests.support.identity_fixtures import Accounts, Actor
from tests.workflow.pki import signing_key_upload

ROOT_AGENCY = "000.00.00.H42"
AGENCY = "000.00.42.H42"
CHILD_AGENCY = "000.42.42.H42"
ALL_ROLES = ["reception", "processing", "approval", "finance", "agency_admin"]
FEE_ITEMS: list[dict[str, Any]] = [
    {"kind": "fee", "name": "Lệ phí cấp giấy chứng nhận", "amount": 150000, "due": "before_processing"},
    {"kind": "charge", "name": "Phí thẩm định", "amount": 350000, "due": "before_processing"},
    {"kind": "fee", "name": "Lệ phí trả kết quả", "amount": 20000, "due": "on_result"},
]
OVERRIDE_DATE = "2026-09-03"


def report_periods() -> list[str]:
    """Months that are over, the last one first (its indicators are published in the world)."""
    from app.core import clock

    today = clock.now().date()
    months = [(today.year * 12 + today.month - 1) - back for back in (1, 2, 12)]
    return [f"{m // 12}-{m % 12 + 1:02d}" for m in months]


@dataclass
class World:
    actors: dict[str, Actor] = field(default_factory=dict)
    # name -> real values; lists are candidates the fuzz draws from.
    ids: dict[str, list[str]] = field(default_factory=dict)
    # dossier id -> state it was left in (transitions draw a fitting action from it).
    states: dict[str, str] = field(default_factory=dict)
    agencies: list[str] = field(default_factory=lambda: [ROOT_AGENCY, AGENCY, CHILD_AGENCY])
    # (provider_ref, transaction id, amount) of the orders the fake bank settled.
    orders: list[tuple[str, str, int]] = field(default_factory=list)

    def official_id(self) -> str:
        return str(self.actors["official"].id)

    def add(self, name: str, *values: Any) -> None:
        self.ids.setdefault(name, []).extend(str(v) for v in values)


class Builder:
    def __init__(self, client: httpx.AsyncClient, accounts: Accounts) -> None:
        self.client, self.accounts = client, accounts
        self.dossiers = Dossiers(accounts)
        self.catalogue = Catalogue()
        self.world = World()

    # --- helpers ------------------------------------------------------------------------------------------------

    async def call(self, actor: Actor | None, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        headers = {**(actor.headers if actor else {}), **kwargs.pop("headers", {})}
        response = await self.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    async def act(self, actor: Actor, dossier_id: str, action: str, **body: Any) -> dict[str, Any]:
        read = await self.client.get(f"/v1/dossiers/{dossier_id}", headers=actor.headers)
        result = await self.call(actor, "POST", f"/v1/dossiers/{dossier_id}/transitions",
                                 headers={"If-Match": read.headers["etag"]}, json={"action": action, **body})
        return dict(result)

    async def submitted(self, code: str, applicant: Actor) -> str:
        dossier = await self.dossiers.submitted(self.client, applicant, code)
        self.world.add("dossier_code", dossier["code"])
        return str(dossier["id"])

    async def upload(self, actor: Actor, dossier_id: str, part: str) -> str:
        response = await self.dossiers.upload(self.client, actor, dossier_id, part)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    # --- the world ----------------------------------------------------------------------------------------------

    async def catalogue_rows(self) -> None:
        await self.catalogue.agency(ROOT_AGENCY, "UBND tỉnh thử nghiệm", level="province")
        await self.catalogue.agency(AGENCY, "Sở Khoa học và Công nghệ", parent_code=ROOT_AGENCY)
        await self.catalogue.agency(CHILD_AGENCY, "Chi cục Tiêu chuẩn Đo lường Chất lượng", parent_code=AGENCY)
        await self.catalogue.field("F42", agency_code=AGENCY)
        self.world.add("field", "F42")
        result = {"name": "Giấy chứng nhận", "must_be_signed": False}
        self.fee_code = await self.dossiers.procedure(AGENCY, channels=("online", "desk", "post"),
                                                      fee_items=FEE_ITEMS, result=result)
        self.plain_code = await self.dossiers.procedure(AGENCY, result=result)
        self.world.add("procedure", self.fee_code, self.plain_code)
        # One procedure per catalogue action on a version: its draft v2 (v1 published), to be patched, published,
        # cancelled, deleted; and one whose published v1 is to be retired.
        for purpose in ("patch", "publish", "cancel", "delete"):
            code = await self.catalogue.procedure(f"9.{purpose}.H42", agency_code=AGENCY, field_code="F42")
            await self.catalogue.draft(code)
            self.world.add(f"draft_procedure_{purpose}", code)

    async def scheduled_publication(self) -> None:
        """The cancel procedure's v2 published from next month: a publication to cancel."""
        from datetime import timedelta

        from app.core import clock

        admin, code = self.world.actors["admin"], self.world.ids["draft_procedure_cancel"][0]
        read = await self.client.get(f"/v1/procedures/{code}/versions/2", headers=admin.headers)
        await self.call(admin, "POST", f"/v1/procedures/{code}/versions/2/publish",
                        headers={"If-Match": read.headers["etag"]},
                        json={"valid_from": (clock.now() + timedelta(days=30)).isoformat()})
        retire = await self.catalogue.procedure("9.retire.H42", agency_code=AGENCY, field_code="F42")
        self.world.add("retire_procedure", retire)

    async def people(self) -> None:
        a = self.accounts
        admin = await a.admin()
        official = await a.official(AGENCY, ALL_ROLES, name="Lê Văn Toàn Quyền")
        citizen = await a.citizen(name="Nguyễn Thị Hoa", email="hoa@example.vn", phone="0912345678")
        organisation = await a.organisation()
        client = await a.client(["dossiers:read", "dossiers:sync", "catalogue:write", "reports:read"], [AGENCY])
        # Targets for PATCH /v1/officials and /v1/clients: a change may suspend them, so not the world's callers.
        spare_official = await a.official(AGENCY, ["reception"], name="Trần Văn Dự Bị")
        spare_client = await a.client(["dossiers:read"], [AGENCY])
        self.world.actors.update(admin=admin, official=official, citizen=citizen, organisation=organisation,
                                 client=client)
        self.world.add("official", spare_official.id)
        self.world.add("client", spare_client.id)
        # Representatives of the organisation: one to read, one to delete.
        for _ in range(2):
            someone = await a.citizen()
            self.world.add("representative", await a.representative(organisation, someone))
        self.world.add("citizen_id", citizen.citizen_id)

    async def drafts(self) -> None:
        citizen = self.world.actors["citizen"]
        for name in ("draft", "draft", "deletable", "deletable"):
            draft = await self.dossiers.draft(self.client, citizen, self.plain_code, form={})
            self.world.add(name, draft["id"])
        # A draft with attachments, for DELETE .../attachments/{id}.
        draft = await self.dossiers.draft(self.client, citizen, self.plain_code, form={})
        self.world.add("attachment_draft", draft["id"])
        for _ in range(3):
            self.world.add("draft_attachment", await self.upload(citizen, draft["id"], "application_form"))
        # Drafts ready to submit (their required part uploaded).
        for _ in range(2):
            draft = await self.dossiers.draft(self.client, citizen, self.plain_code, form={})
            await self.upload(citizen, draft["id"], "application_form")
            self.world.add("submittable", draft["id"])

    async def workflow(self) -> None:
        w, official, citizen = self.world, self.world.actors["official"], self.world.actors["citizen"]
        states: dict[str, list[str]] = {}

        async def new(code: str) -> str:
            return await self.submitted(code, citizen)

        states["submitted"] = [await new(self.plain_code), await new(self.fee_code)]
        pay = await new(self.fee_code)
        await self.act(official, pay, "request_payment", exemptions=[])
        states["payment_requested"] = [pay]
        received = await new(self.plain_code)
        await self.act(official, received, "receive")
        states["received"] = [received]
        processing = await new(self.plain_code)
        await self.act(official, processing, "receive")
        await self.act(official, processing, "assign", assignee=str(official.id))
        await self.act(official, processing, "appraise")
        states["processing"] = [processing]
        supplement = await new(self.plain_code)
        await self.act(official, supplement, "receive")
        await self.act(official, supplement, "request_supplement", items=["Bản sao giấy tờ có chứng thực"])
        await self.upload(citizen, supplement, "id_copy")
        states["supplement_requested"] = [supplement]
        states["processed"] = [await self.processed(await new(self.plain_code))]
        returned = [await self.processed(await new(self.plain_code)) for _ in range(3)]
        for dossier_id in returned:
            await self.act(official, dossier_id, "return_result", delivery={"method": "desk"})
        states["returned"] = returned
        for state, dossier_ids in states.items():
            for dossier_id in dossier_ids:
                w.states[dossier_id] = state
        w.add("dossier", *(d for ds in states.values() for d in ds))
        # A rating to read; the other returned dossiers are for POST .../rating.
        await self.call(citizen, "POST", f"/v1/dossiers/{returned[0]}/rating", 201, json={"score": 5})
        w.add("rated", returned[0])
        w.add("unrated", *returned[1:])
        w.add("returned", *returned)
        await self.complaints(returned[0])

    async def complaints(self, dossier_id: str) -> None:
        """Complaints about a returned dossier: open ones to answer, answered ones to rate (each once)."""
        citizen, official = self.world.actors["citizen"], self.world.actors["official"]
        path = f"/v1/dossiers/{dossier_id}/complaints"
        for name in ("open_complaint", "open_complaint", "answered_complaint", "answered_complaint"):
            complaint = await self.call(citizen, "POST", path, 201, json={"text": "Trả kết quả chậm"})
            if name == "answered_complaint":
                await self.call(official, "POST", f"/v1/complaints/{complaint['id']}/answer", json={
                    "answer": "Đã kiểm tra, xin lỗi Ông/Bà"}, headers={"If-Match": '"1"'})
            self.world.add(name, complaint["id"])
        self.world.add("complaint", *self.world.ids["open_complaint"], *self.world.ids["answered_complaint"])

    async def processed(self, dossier_id: str) -> str:
        official = self.world.actors["official"]
        await self.act(official, dossier_id, "receive")
        await self.act(official, dossier_id, "assign", assignee=str(official.id))
        await self.act(official, dossier_id, "appraise")
        await self.act(official, dossier_id, "approve")
        result = await self.upload(official, dossier_id, "result")
        await self.act(official, dossier_id, "issue_result", attachments=[result])
        return dossier_id

    async def settle(self, attempt: dict[str, Any]) -> None:
        """The bank's callback for a paid attempt, delivered; its order (ref, transaction, amount) kept, for the
        fuzz's own signed callbacks about it."""
        from app.fees.providers.fakepay import FakePayBank

        bank = FakePayBank()
        for callback in bank.complete(attempt["provider_ref"]):
            response = await self.client.post("/v1/payments/providers/fakepay/callback", content=callback.body,
                                              headers=callback.headers)
            assert response.status_code == 200, response.text
        order = bank.order(attempt["provider_ref"])
        assert order is not None
        self.world.orders.append((attempt["provider_ref"], str(order["txn_id"]), int(order["amount"])))

    async def money(self) -> None:
        w, official, citizen = self.world, self.world.actors["official"], self.world.actors["citizen"]
        paid = await self.submitted(self.fee_code, citizen)
        await self.act(official, paid, "request_payment", exemptions=[])
        attempt = await self.call(citizen, "POST", f"/v1/dossiers/{paid}/payments", 201,
                                  json={"provider": "fakepay", "return_url": "https://portal.example/return"})
        await self.settle(attempt)
        refund = await self.call(official, "POST", f"/v1/payments/{attempt['id']}/refunds", 201,
                                 json={"amount": 1000, "reason": "Thu thừa", "expected_available": 500000})
        w.states[paid] = "received"
        w.add("dossier", paid)
        w.add("payment", attempt["id"])
        w.add("refund", refund["id"])
        # An online payment the payer left at the provider: finance may cancel it (POST /v1/payments/{id}/cancel).
        abandoned = await self.submitted(self.fee_code, citizen)
        await self.act(official, abandoned, "request_payment", exemptions=[])
        left = await self.call(citizen, "POST", f"/v1/dossiers/{abandoned}/payments", 201,
                               json={"provider": "fakepay", "return_url": "https://portal.example/return"})
        w.add("cancellable_payment", left["id"])
        # Dossiers waiting for payment, one for POST .../payments, one for .../payments/counter.
        for name in ("awaiting_online_payment", "awaiting_counter_payment"):
            waiting = await self.submitted(self.fee_code, citizen)
            await self.act(official, waiting, "request_payment", exemptions=[])
            w.add(name, waiting)

    async def stuck_refund(self) -> None:
        """A refund the provider never answered (the process died before asking it), old enough that finance must
        resolve it by hand: the fake provider then has to be one that does not de-duplicate refunds (as VNPAY), as
        the module arranges (tests/contract/test_schemathesis_seeded.py)."""
        from datetime import timedelta

        from sqlalchemy import select, update

        from app.core import clock
        from app.core.db import get_database
        from app.core.settings import get_settings
        from app.fees import refunds
        from app.fees.models import Refund
        official, citizen = self.world.actors["official"], self.world.actors["citizen"]
        dossier_id = await self.submitted(self.fee_code, citizen)
        await self.act(official, dossier_id, "request_payment", exemptions=[])
        attempt = await self.call(citizen, "POST", f"/v1/dossiers/{dossier_id}/payments", 201,
                                  json={"provider": "fakepay", "return_url": "https://portal.example/return"})
        await self.settle(attempt)
        asked = refunds.ask_provider

        async def killed(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("process killed")

        refunds.ask_provider = killed  # type: ignore[assignment]
        try:
            async with get_database().write_sessions() as session:
                await refunds.refund_payment(session, uuid.UUID(attempt["id"]), amount=500000, reason="Nộp trùng",
                                             expected_available=500000, official_id=official.id)
        except RuntimeError:
            pass
        finally:
            refunds.ask_provider = asked  # type: ignore[assignment]
        aged = clock.now() - timedelta(seconds=get_settings().payment_reconcile_after_s + 1)
        async with get_database().write_sessions() as session, session.begin():
            refund_id = await session.scalar(select(Refund.id).where(Refund.attempt_id == uuid.UUID(attempt["id"])))
            await session.execute(update(Refund).where(Refund.id == refund_id).values(created_at=aged))
        self.world.add("stuck_payment", attempt["id"])
        self.world.add("stuck_refund", refund_id)

    async def children(self) -> None:
        """Attachments and notices of the world's dossiers, for the routes that address one."""
        w, official = self.world, self.world.actors["official"]
        for dossier_id in w.ids["dossier"]:
            attachments = await self.call(official, "GET", f"/v1/dossiers/{dossier_id}/attachments")
            for item in attachments["items"]:
                w.add("attachment_of:" + dossier_id, item["id"])
            notices = await self.call(official, "GET", f"/v1/dossiers/{dossier_id}/notices")
            for item in notices["items"]:
                w.add("notice_of:" + dossier_id, item["id"])
        # The citizen's digitised documents, to reuse (POST .../attachments with a JSON body).
        documents = await self.call(w.actors["citizen"], "GET", "/v1/accounts/me/documents")
        w.add("own_document", *(item["id"] for item in documents["items"]))

    async def integration(self) -> None:
        """Webhook subscriptions of the client (one to keep, one to delete), with a dead delivery to replay."""
        from sqlalchemy import update

        from app.core.db import get_database
        from app.core.delivery import DEAD, Delivery, run_consumer
        from app.integration import ssrf
        from app.integration.webhooks import CONSUMER, WebhookConsumer

        client = self.world.actors["client"]

        async def resolve(host: str, port: int) -> list[str]:
            return ["93.184.216.34"]

        real_resolve = ssrf.resolve
        ssrf.resolve = resolve  # type: ignore[assignment]  # no DNS in tests
        try:
            for _ in range(2):
                hook = await self.call(client, "POST", "/v1/webhooks", 201, json={
                    "url": "https://hooks.example.com/dvc", "event_types": ["dossier.submitted"]})
                self.world.add("webhook", hook["id"])
            await self.submitted(self.plain_code, self.world.actors["citizen"])
            consumer = WebhookConsumer(httpx.MockTransport(lambda request: httpx.Response(500)))
            await run_consumer(consumer)
            await run_consumer(consumer)
        finally:
            ssrf.resolve = real_resolve  # type: ignore[assignment]
        async with get_database().write_sessions() as session, session.begin():
            await session.execute(update(Delivery).where(Delivery.consumer == CONSUMER).values(state=DEAD))
        for webhook_id in self.world.ids["webhook"]:
            log = await self.call(client, "GET", f"/v1/webhooks/{webhook_id}/deliveries")
            self.world.add("delivery_of:" + webhook_id, *(item["id"] for item in log["items"]))

    async def snapshot(self) -> None:
        """Last month's indicators published (the public ones to read); two earlier months left to publish."""
        published, *still_open = report_periods()
        await self.call(self.world.actors["admin"], "POST", "/v1/reports/indicators/snapshots", 201,
                        json={"period": published})
        self.world.add("published_period", published)
        self.world.add("open_period", *still_open)

    async def calendar(self) -> None:
        await self.call(self.world.actors["admin"], "PUT", f"/v1/calendar/overrides/{OVERRIDE_DATE}", 201,
                        json={"working": False, "note": "Nghỉ bù Quốc khánh"})
        self.world.add("override_date", OVERRIDE_DATE)

    async def signing_keys(self) -> None:
        """Every agency signs with a key of its own (reads, replacements and removals find one); the upload body
        is kept for the replacements the fuzz sends."""
        with tempfile.TemporaryDirectory(prefix="dvc-world-key-") as directory:
            _, body = signing_key_upload(Path(directory), "Sở Thử Nghiệm Hợp Đồng")
        for code in self.world.agencies:
            await self.call(self.world.actors["admin"], "PUT", f"/v1/agencies/{code}/signing-key", json=body)
        self.world.add("signing_key_pkcs12", body["pkcs12"])
        self.world.add("signing_key_passphrase", body["passphrase"])


async def build_world(client: httpx.AsyncClient, accounts: Accounts) -> World:
    builder = Builder(client, accounts)
    await builder.catalogue_rows()
    await builder.people()
    await builder.scheduled_publication()
    await builder.drafts()
    await builder.workflow()
    await builder.money()
    await builder.stuck_refund()
    await builder.children()
    await builder.integration()
    await builder.calendar()
    await builder.signing_keys()
    await builder.snapshot()
    assert DEFAULT_PARTS and PDF  # the parts the drafts and uploads above rely on
    builder.world.add("random", uuid.uuid4())
    return builder.world
