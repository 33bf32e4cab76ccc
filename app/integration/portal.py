"""National-portal sync: the adapter speaking the portal's dossier-sync API, and the outbox consumer using it.

The portal's integration documents (Văn phòng Chính phủ, "Tài liệu hướng dẫn kết nối, tích hợp, chia sẻ dữ liệu
với Cổng Dịch vụ công quốc gia") are not public; the message below follows what open one-stop systems send to the
portal's service `DongBoHoSoMC` (sources and what they leave open: docs/national-portal.md). All of it is kept in
this one module so it can be corrected without touching anything else:

    POST {DVC_NATIONAL_PORTAL_URL}/api/hoso/dongbohosomc                       (path: ours, unverified)
    X-Client-Id: {DVC_NATIONAL_PORTAL_CLIENT_ID}                              (auth: ours, unverified)
    Authorization: Bearer {DVC_NATIONAL_PORTAL_SECRET}
    {"service": "DongBoHoSoMC", "madonvi": "<agency code>", "isUpdating": false|true,
     "data": [{"MaHoSo", "MaTTHC", "TenTTHC", "KenhThucHien": "1" desk | "2" online | "3" post,
               "ChuHoSo", "LoaiDoiTuong": "1" citizen | "2" organisation, "Email", "SoDienThoai",
               "NgayTiepNhan", "NgayHenTra", "TrangThaiHoSo": "1".."10", "HinhThuc": "0" | "1" result by post,
               "NgayKetThucXuLy", "DonViXuLy": "<agency name>", "MaLinhVuc", "TenLinhVuc",
               "TrichYeuHoSo", "NgayNopHoSo", "DinhDanhCHS": [...], "NgayTra", "NgayTuChoi", "NoiNopHoSo",
               "TaiLieuNop": [...], "HoSoCoThanhPhanSoHoa", "TaiKhoanDuocXacThucVoiVNeID": "1" | "0",
               "DanhSachLePhi": [...], "DuocThanhToanTrucTuyen",
               "DanhSachHoSoBoSung": [...], "DanhSachGiayToKetQua": [...]  (app.integration.portal_record),
               "MaHoSoTinh", "MaDonVi", "NgayCapNhat"  (ours, in no source)}]}
    -> 200 {"error_code": "0", "message": "..."} ("00" is taken as success too); anything else is a failure.

Every value is a string (or a list of objects of strings); times are yyyyMMddHHmmss in Asia/Ho_Chi_Minh time; an
unknown time is "" (as the sources send it, rather than leaving the field out).

`isUpdating` is true when the portal holds the dossier already (it acknowledged an earlier message about it),
false when the message creates its record: the submission, and the first message the portal accepts about a
dossier whose earlier ones it never got.

The processing history (`CapNhatTienDoHoSoMC`) goes through this adapter too, from its own consumer
(app.integration.portal_progress).

A status change that tells the portal nothing new is not sent: the internal steps of processing (assign,
appraise, approve) keep national code 4, and the portal was sent a code-4 message for each. A change is sent
when its national code or due date differs from the dossier's last message queued for the portal (one that did
not go dead); an apology's new due date is sent although the code stays. Submissions and replays are always sent.

Timeouts: httpx's per-operation timeouts plus an overall bound per call. A refused or reset connection is
retried once at once (tenacity): nothing reached the portal. Everything else fails the delivery, which the
outbox retries with exponential backoff (30 s, 1 min, 2 min, ... at most 1 h) and marks dead after
DVC_NATIONAL_PORTAL_MAX_ATTEMPTS. The portal call is idempotent (it sets a status), so a retry after a lost
answer does no harm. With DVC_NATIONAL_PORTAL_ENABLED=false the consumer creates no deliveries at all.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from app.catalogue.models import Field, ProcedureVersion
from app.core import clock
from app.core.db import get_database
from app.core.delivery import DEAD, Delivery, Target
from app.core.outbox import OutboxEvent
from app.core.settings import get_settings
from app.dossiers.models import Dossier, Source
from app.integration.models import DossierSyncStatus, NationalDossier
from app.integration.portal_record import load_extras, portal_time, record_fields

log = logging.getLogger("app.integration.portal")

CONSUMER = "national_portal"
TARGET = "portal"
SYNC_PATH = "/api/hoso/dongbohosomc"
PROGRESS_SERVICE = "CapNhatTienDoHoSoMC"
SYNC_EVENTS = frozenset({"dossier.submitted", "dossier.status_changed", "dossier.sync_replay"})
# The portal's channel codes (its catalogue's KENH): 1 direct (desk), 2 online, 3 public post (BCCI).
CHANNEL_CODES = {"desk": "1", "online": "2", "post": "3"}
# LoaiDoiTuong: 1 citizen, 2 business; our organisations are identified by a tax or business code.
APPLICANT_KINDS = {"citizen": "1", "organisation": "2"}
SUCCESS_CODES = frozenset({"0", "00"})
ALREADY_HELD = "đã tồn tại"  # "already exists": the portal's refusal to create a record it holds
RESULT_CODES = frozenset({9, 10})  # processed, returned: NgayKetThucXuLy is known
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)


class PortalError(Exception):
    """The portal did not accept the update (the message is recorded as the delivery's last error). `refusal` is
    the portal's own message when it answered with an error code of its own."""

    def __init__(self, text: str, *, refusal: str | None = None) -> None:
        super().__init__(text)
        self.refusal = refusal


@dataclass(frozen=True)
class PortalUpdate:
    """One dossier's status as the portal is told it."""

    dossier_id: uuid.UUID
    dossier_code: str
    national_dossier_id: str | None
    procedure_code: str
    agency_code: str
    status_code: int
    at: datetime
    channel: str
    is_update: bool
    due_at: datetime | None = None
    procedure_name: str = ""
    agency_name: str = ""
    applicant_kind: str = "citizen"
    applicant_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    received_at: datetime | None = None
    finished_at: datetime | None = None
    delivery_method: str = "desk"
    field_code: str = ""
    field_name: str = ""
    # The fields that rest on more than the dossier row (app.integration.portal_record.record_fields).
    extra: dict[str, Any] = field(default_factory=dict)


def portal_message(update: PortalUpdate) -> dict[str, Any]:
    code = update.status_code
    record: dict[str, Any] = {
        "MaHoSo": update.national_dossier_id or update.dossier_code, "MaHoSoTinh": update.dossier_code,
        "MaTTHC": update.procedure_code, "TenTTHC": update.procedure_name, "MaDonVi": update.agency_code,
        "KenhThucHien": CHANNEL_CODES.get(update.channel, CHANNEL_CODES["online"]),
        "ChuHoSo": update.applicant_name or "", "LoaiDoiTuong": APPLICANT_KINDS.get(update.applicant_kind, "1"),
        "Email": update.contact_email or "", "SoDienThoai": update.contact_phone or "",
        # A dossier still "Mới đăng ký" has not been received, whatever the row says by the time this is sent.
        "NgayTiepNhan": portal_time(update.received_at) if code != 1 else "",
        "NgayHenTra": portal_time(update.due_at), "TrangThaiHoSo": str(code),
        "HinhThuc": "1" if update.delivery_method == "post" else "0",
        "NgayKetThucXuLy": portal_time(update.finished_at) if code in RESULT_CODES else "",
        "DonViXuLy": update.agency_name, "NgayCapNhat": portal_time(update.at),
        "MaLinhVuc": update.field_code, "TenLinhVuc": update.field_name, **update.extra}
    return {"service": "DongBoHoSoMC", "madonvi": update.agency_code, "isUpdating": update.is_update,
            "data": [record]}


class NationalPortal:
    """The adapter: one HTTP call per update. `transport` lets tests plug in the fake portal."""

    def __init__(self, base_url: str, *, client_id: str = "", secret: str = "", timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id, self.secret, self.timeout_s = client_id, secret, timeout_s
        self.transport = transport
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(cls, transport: httpx.AsyncBaseTransport | None = None) -> NationalPortal:
        s = get_settings()
        return cls(s.national_portal_url, client_id=s.national_portal_client_id, secret=s.national_portal_secret,
                   timeout_s=s.national_portal_timeout_s, transport=transport)

    def _client(self) -> httpx.AsyncClient:
        """One pooled client per event loop (a worker keeps its connections; tests get a fresh one)."""
        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop:
            self._http = httpx.AsyncClient(base_url=self.base_url, transport=self.transport,
                                           timeout=httpx.Timeout(self.timeout_s), follow_redirects=False)
            self._loop = loop
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _post(self, message: dict[str, Any]) -> httpx.Response:
        headers = {"X-Client-Id": self.client_id}
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        async for attempt in AsyncRetrying(retry=retry_if_exception_type(httpx.ConnectError),
                                           stop=stop_after_attempt(2), wait=wait_exponential(0.2, max=1),
                                           reraise=True):
            with attempt:
                return await self._client().post(SYNC_PATH, json=message, headers=headers)
        raise AssertionError("unreachable")  # AsyncRetrying either returns or re-raises

    async def send(self, update: PortalUpdate) -> None:
        """Send the update; a new record the portal says it holds already (the answer to an earlier create was
        lost) is sent again as an update, as one-stop systems do on "đã tồn tại"."""
        try:
            await self._send(update)
        except PortalError as error:
            refusal = unicodedata.normalize("NFC", error.refusal or "").casefold()
            if update.is_update or ALREADY_HELD not in refusal:
                raise
            await self._send(replace(update, is_update=True))

    async def send_progress(self, agency_code: str, items: list[dict[str, Any]]) -> None:
        """`CapNhatTienDoHoSoMC`: processing history entries, through the same endpoint as the record (OpenCPS
        posts both to its one integration endpoint, `{"session", "madonvi", "service", "data": [items]}`)."""
        await self._call({"service": PROGRESS_SERVICE, "madonvi": agency_code, "data": items})

    async def _send(self, update: PortalUpdate) -> None:
        await self._call(portal_message(update))

    async def _call(self, message: dict[str, Any]) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self._post(message)
        except TimeoutError as error:
            raise PortalError(f"no answer within {self.timeout_s:g} s") from error
        except httpx.TimeoutException as error:
            raise PortalError(f"timed out: {type(error).__name__}") from error
        except httpx.HTTPError as error:
            raise PortalError(f"{type(error).__name__}: {error}") from error
        if response.status_code != 200:
            raise PortalError(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            answer = response.json()
        except ValueError as error:
            raise PortalError("HTTP 200 with a body that is not JSON") from error
        if not isinstance(answer, dict):
            raise PortalError("HTTP 200 with a body that is not a JSON object")
        if str(answer.get("error_code")) not in SUCCESS_CODES:
            said = str(answer.get("message") or "")
            raise PortalError(f"refused: error_code={answer.get('error_code')} {said}"[:300], refusal=said)


def retry_delays(max_attempts: int) -> list[timedelta]:
    """Exponential backoff: 30 s, 1 min, 2 min, ... capped at 1 h; `max_attempts - 1` retries."""
    return [min(FIRST_RETRY * 2 ** i, MAX_RETRY) for i in range(max_attempts - 1)]


class NationalPortalConsumer:
    """Outbox consumer `national_portal`: one delivery per sync event, ordered per dossier."""

    name = CONSUMER

    def __init__(self, portal: NationalPortal | None = None, *, enabled: bool | None = None) -> None:
        self._portal = portal
        self._enabled = enabled

    @property
    def portal(self) -> NationalPortal:
        if self._portal is None:
            self._portal = NationalPortal.from_settings()
        return self._portal

    @property
    def enabled(self) -> bool:
        return get_settings().national_portal_enabled if self._enabled is None else self._enabled

    def retry_delays(self) -> Sequence[timedelta]:
        return retry_delays(get_settings().national_portal_max_attempts)

    async def targets(self, session: AsyncSession, event: OutboxEvent) -> list[Target]:
        if not self.enabled or event.aggregate_type != "dossier" or event.event_type not in SYNC_EVENTS:
            return []
        if event.event_type == "dossier.status_changed" and await _nothing_new(session, event):
            return []
        return [Target(TARGET, ordering_key=str(event.aggregate_id))]

    async def deliver(self, delivery: Delivery, event: OutboxEvent) -> None:
        update = await _update_for(event)
        await self.portal.send(update)
        await record_synced(update, event.id)


def _told(payload: dict[str, Any]) -> tuple[Any, Any] | None:
    """What a message tells the portal beyond the dossier's fixed facts: its national code and due date. None for
    an event written before events carried `due_at` (what it said of the due date is unknown)."""
    if "due_at" not in payload:
        return None
    return payload.get("national_status_code"), payload["due_at"]


async def _nothing_new(session: AsyncSession, event: OutboxEvent) -> bool:
    """The dossier's last message queued for the portal (not dead: a dead one never reached it) said what this
    event would say. Fan-out runs in event order, so that message is the one the portal gets before this one."""
    told = _told(event.payload)
    if told is None:
        return False
    previous = (await session.execute(
        select(Delivery.state, OutboxEvent.payload).join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
        .where(Delivery.consumer == CONSUMER, Delivery.ordering_key == str(event.aggregate_id),
               Delivery.event_id < event.id)
        .order_by(Delivery.event_id.desc()).limit(1))).first()
    return previous is not None and previous.state != DEAD and _told(previous.payload) == told


async def _update_for(event: OutboxEvent) -> PortalUpdate:
    """The event's status code, with what the portal needs of the dossier (its channel, national id, whether the
    portal holds it already)."""
    payload = event.payload
    text = payload.get("at") or payload.get("submitted_at")
    at = datetime.fromisoformat(text) if text else event.created_at
    async with get_database().read_sessions() as session:
        row = (await session.execute(
            select(Dossier.code, Dossier.procedure_code, Dossier.agency_code, Dossier.channel,
                   Dossier.procedure_name, Dossier.agency_name, Dossier.applicant_kind, Dossier.applicant_name,
                   Dossier.contact_email, Dossier.contact_phone, Dossier.received_at, Dossier.finished_at,
                   Dossier.delivery_method, Dossier.applicant_citizen_id, Dossier.submitted_at, Dossier.source,
                   Dossier.submitter_issuer, Dossier.submitter_acr,
                   NationalDossier.national_dossier_id, DossierSyncStatus.dossier_id.label("acknowledged"),
                   Field.code.label("field_code"), Field.name.label("field_name"))
            .outerjoin(NationalDossier, NationalDossier.dossier_id == Dossier.id)
            .outerjoin(DossierSyncStatus, DossierSyncStatus.dossier_id == Dossier.id)
            .outerjoin(ProcedureVersion, (ProcedureVersion.procedure_code == Dossier.procedure_code)
                       & (ProcedureVersion.version == Dossier.procedure_version))
            .outerjoin(Field, Field.code == ProcedureVersion.field_code)
            .where(Dossier.id == event.aggregate_id))).first()
        extras = await load_extras(session, event.aggregate_id, up_to_seq=payload.get("history_seq"), as_of=at)
    if row is None:
        raise PortalError("the dossier no longer exists")
    code = payload.get("national_status_code")
    if code is None:
        raise PortalError("the event carries no national status code")
    due = payload.get("due_at")
    return PortalUpdate(
        dossier_id=event.aggregate_id, dossier_code=str(payload.get("code") or row.code),
        national_dossier_id=row.national_dossier_id,
        procedure_code=str(payload.get("procedure_code") or row.procedure_code),
        agency_code=str(payload.get("agency_code") or row.agency_code), status_code=int(code),
        at=at, channel=row.channel,
        due_at=datetime.fromisoformat(due) if due else None,
        procedure_name=row.procedure_name, agency_name=row.agency_name, applicant_kind=row.applicant_kind,
        applicant_name=row.applicant_name, contact_email=row.contact_email, contact_phone=row.contact_phone,
        received_at=row.received_at, finished_at=row.finished_at, delivery_method=row.delivery_method,
        field_code=row.field_code or "", field_name=row.field_name or "",
        extra=record_fields(extras, status_code=int(code), procedure_name=row.procedure_name,
                            applicant_name=row.applicant_name, citizen_id=row.applicant_citizen_id,
                            submitted_at=row.submitted_at, from_portal=row.source == Source.national_portal.value,
                            submitter_issuer=row.submitter_issuer, submitter_acr=row.submitter_acr),
        # An update only of a record the portal holds: one it has acknowledged before (this dossier's earlier
        # deliveries are over by now, per-dossier order). A dossier it never got (its submission consumed while
        # the portal was off, or dead while it was down) reaches it as a new record through a later change or a
        # resync: sent as an update, the portal refused it for ever, and resync could not catch it up.
        is_update=event.event_type != "dossier.submitted" and row.acknowledged is not None)


async def record_synced(update: PortalUpdate, event_id: int) -> None:
    """Remember what the portal acknowledged; the first time, tell reporting a dossier was synced.

    One upsert (a later event never overwrites a newer one's code); it reports whether the row is new by
    `first_synced_at = synced_at`, which only an insert leaves equal."""
    now = clock.now()
    async with get_database().write_sessions() as session, session.begin():
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = insert(DossierSyncStatus).values(
            dossier_id=update.dossier_id, last_synced_code=update.status_code, last_event_id=event_id,
            first_synced_at=now, synced_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[DossierSyncStatus.dossier_id],
            set_={"last_synced_code": stmt.excluded.last_synced_code,
                  "last_event_id": stmt.excluded.last_event_id, "synced_at": stmt.excluded.synced_at},
            where=DossierSyncStatus.last_event_id <= stmt.excluded.last_event_id)
        first = await session.scalar(stmt.returning(
            DossierSyncStatus.first_synced_at == DossierSyncStatus.synced_at))
        if first:
            await _count_synced(session, update.dossier_id)


async def _count_synced(session: AsyncSession, dossier_id: uuid.UUID) -> None:
    """Reporting's counters, when that domain offers `count_synced(session, dossier)`."""
    try:
        counters = importlib.import_module("app.reporting.counters")
    except ModuleNotFoundError:
        return
    count_synced = getattr(counters, "count_synced", None)
    if count_synced is not None:
        dossier = await session.get(Dossier, dossier_id)
        if dossier is not None:
            await count_synced(session, dossier)
