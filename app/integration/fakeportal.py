"""A local stand-in for the national portal's dossier-sync endpoint (tests, `dvc fake-portal` in dev).

It accepts what `app/integration/portal.py` sends, records every request, and can be told to misbehave. Like the
portal, it holds the dossiers it was sent: `isUpdating: false` creates a dossier's record and is refused (error_code
"3", "Hồ sơ đã tồn tại") for one it holds already; `true` updates one it holds and is refused (error_code "99") for
one it does not. A record without `MaHoSo`, with a `TrangThaiHoSo` outside "1".."10", a `KenhThucHien` outside
"1".."3", a time that is neither "" nor yyyyMMddHHmmss, or a list field (TaiLieuNop, DanhSachLePhi, ...) whose items are
not objects of string values is refused (error_code "99").

`{"service": "CapNhatTienDoHoSoMC", "data": [items]}` at the same path is processing history: each item needs the
nine fields of OpenCPS and TD as strings, a `MaHoSo` the fake holds a record of ("99" otherwise: the portal takes
progress only for its own records), `ThoiDiemXuLy` a time, `TrangThai` a status code, and `NgayBatDau` /
`NgayKetThucTheoQuyDinh` "" or a time. Accepted items are kept in order (`progress`). What these behaviours rest on
(and what they do not): docs/national-portal.md.


    portal = FakePortal()
    portal.fail_next(2, status=503)        # the next two calls answer 503
    portal.mode = "timeout"                # every call hangs (longer than any client timeout)
    portal.mode = "reject"                 # 200 with error_code "99" (the portal's own refusal)
    httpx.AsyncClient(transport=httpx.ASGITransport(app=portal.app))

The same controls over HTTP, for a running fake: `POST /_fake/mode {"mode": "ok"|"error"|"timeout"|"reject",
"times": n}` (times: only the next n calls, then back to ok), `GET /_fake/received`, `DELETE /_fake/received`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SYNC_PATH = "/api/hoso/dongbohosomc"
MODES = ("ok", "error", "timeout", "reject")
STATUS_CODES = frozenset(str(code) for code in range(1, 11))
CHANNEL_CODES = frozenset({"1", "2", "3"})
TIME_FIELDS = ("NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy", "NgayTra", "NgayCapNhat", "NgayNopHoSo", "NgayTuChoi")
LIST_FIELDS = ("TaiLieuNop", "DanhSachLePhi", "DanhSachHoSoBoSung", "DanhSachGiayToKetQua", "DinhDanhCHS")
PROGRESS_SERVICE = "CapNhatTienDoHoSoMC"
PROGRESS_FIELDS = ("MaHoSo", "NguoiXuLy", "ChucDanh", "ThoiDiemXuLy", "PhongBanXuLy", "NoiDungXuLy", "TrangThai",
                   "NgayBatDau", "NgayKetThucTheoQuyDinh")


def _is_time(value: Any, *, required: bool = False) -> bool:
    if not isinstance(value, str):
        return False
    return (not required and value == "") or (len(value) == 14 and value.isascii() and value.isdigit())


def _flat(item: Any, nested: tuple[str, ...] = ()) -> bool:
    """An object whose values are strings (or, for the names in `nested`, lists of such objects)."""
    return isinstance(item, dict) and all(
        (isinstance(value, list) and all(_flat(i) for i in value)) if key in nested else isinstance(value, str)
        for key, value in item.items())


def _invalid(item: Any) -> str | None:
    """Why the portal would refuse this dossier record, or None."""
    if not isinstance(item, dict) or not isinstance(item.get("MaHoSo"), str) or not item["MaHoSo"]:
        return "MaHoSo bắt buộc"
    if item.get("TrangThaiHoSo") not in STATUS_CODES:
        return "TrangThaiHoSo không hợp lệ"
    if "KenhThucHien" in item and item["KenhThucHien"] not in CHANNEL_CODES:
        return "KenhThucHien không hợp lệ"
    for name in TIME_FIELDS:
        if not _is_time(item.get(name, "")):
            return f"{name} không đúng định dạng yyyyMMddHHmmss"
    for name in LIST_FIELDS:
        value = item.get(name, [])
        nested = ("DanhSachGiayToBoSung", "DanhSachLePhiBoSung") if name == "DanhSachHoSoBoSung" else ()
        if not isinstance(value, list) or not all(_flat(i, nested) for i in value):
            return f"{name} không hợp lệ"
    return None


def _invalid_progress(item: Any) -> str | None:
    """Why the portal would refuse this processing-history item, or None."""
    if not isinstance(item, dict) or any(not isinstance(item.get(name), str) for name in PROGRESS_FIELDS):
        return "Thiếu thông tin tiến độ"
    if not item["MaHoSo"]:
        return "MaHoSo bắt buộc"
    if not _is_time(item["ThoiDiemXuLy"], required=True):
        return "ThoiDiemXuLy không đúng định dạng yyyyMMddHHmmss"
    if item["TrangThai"] not in STATUS_CODES:
        return "TrangThai không hợp lệ"
    for name in ("NgayBatDau", "NgayKetThucTheoQuyDinh"):
        if not _is_time(item[name]):
            return f"{name} không đúng định dạng yyyyMMddHHmmss"
    return None


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakePortal:
    client_id: str | None = None  # when set, calls must carry it (X-Client-Id) and the secret (Bearer)
    secret: str | None = None
    mode: str = "ok"
    error_status: int = 503
    hang_s: float = 3600.0
    received: list[Received] = field(default_factory=list)
    held: set[str] = field(default_factory=set)  # MaHoSo of the dossiers it holds a record of
    progress: list[dict[str, Any]] = field(default_factory=list)  # accepted processing-history items, in order
    _scripted: list[tuple[str, int]] = field(default_factory=list)

    def fail_next(self, times: int, *, status: int = 503, mode: str = "error") -> None:
        """The next `times` calls misbehave (`mode`), then the fake answers normally again."""
        self._scripted.extend([(mode, status)] * times)

    def reset(self) -> None:
        self.mode, self._scripted, self.received, self.held, self.progress = "ok", [], [], set(), []

    def holds(self, dossier_id: str) -> bool:
        return dossier_id in self.held

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """The dossier records of calls answered with success, in arrival order."""
        return [item for r in self.received if r.body.get("_accepted") and r.body.get("service") != PROGRESS_SERVICE
                for item in r.body.get("data", [])]

    def _next_behaviour(self) -> tuple[str, int]:
        if self._scripted:
            return self._scripted.pop(0)
        return self.mode, self.error_status

    async def _sync(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error_code": "400", "message": "invalid JSON"}, status_code=400)
        record = Received(request.url.path, dict(request.headers), body if isinstance(body, dict) else {})
        self.received.append(record)
        mode, status = self._next_behaviour()
        if mode == "timeout":
            await asyncio.sleep(self.hang_s)
        if mode == "error":
            return JSONResponse({"error_code": str(status), "message": "service unavailable"}, status_code=status)
        if self.client_id is not None and (request.headers.get("x-client-id") != self.client_id
                                           or request.headers.get("authorization") != f"Bearer {self.secret}"):
            return JSONResponse({"error_code": "401", "message": "invalid credentials"}, status_code=401)
        if mode == "reject" or not isinstance(body, dict) or not body.get("data"):
            return JSONResponse({"error_code": "99", "message": "Hồ sơ không hợp lệ"})
        items = body["data"] if isinstance(body["data"], list) else [body["data"]]
        if body.get("service") == PROGRESS_SERVICE:
            return self._progress(record, items)
        problem = next((reason for reason in map(_invalid, items) if reason), None)
        if problem:
            return JSONResponse({"error_code": "99", "message": problem})
        codes = [str(item["MaHoSo"]) for item in items]
        if body.get("isUpdating") is True and not all(code in self.held for code in codes):
            return JSONResponse({"error_code": "99", "message": "Hồ sơ chưa được đồng bộ (cập nhật hồ sơ không có)"})
        if body.get("isUpdating") is not True and any(code in self.held for code in codes):
            return JSONResponse({"error_code": "3", "message": "Hồ sơ đã tồn tại"})
        self.held.update(codes)
        record.body["_accepted"] = True
        return JSONResponse({"error_code": "0", "message": "Thành công"})

    def _progress(self, record: Received, items: list[Any]) -> Response:
        problem = next((reason for reason in map(_invalid_progress, items) if reason), None)
        if problem:
            return JSONResponse({"error_code": "99", "message": problem})
        if not all(item["MaHoSo"] in self.held for item in items):
            return JSONResponse({"error_code": "99", "message": "Hồ sơ chưa được đồng bộ"})
        self.progress.extend(items)
        record.body["_accepted"] = True
        return JSONResponse({"error_code": "0", "message": "Thành công"})

    async def _control(self, request: Request) -> Response:
        body = await request.json()
        mode = str(body.get("mode", "ok"))
        if mode not in MODES:
            return JSONResponse({"detail": f"mode must be one of {MODES}"}, status_code=422)
        times = body.get("times")
        status = int(body.get("status", self.error_status))
        if times:
            self.fail_next(int(times), status=status, mode=mode)
        else:
            self.mode, self.error_status = mode, status
        return JSONResponse({"mode": self.mode, "scripted": len(self._scripted)})

    async def _received(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.received = []
            return Response(status_code=204)
        return JSONResponse([{"path": r.path, "body": r.body} for r in self.received])

    @cached_property
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route(SYNC_PATH, self._sync, methods=["POST"]),
            Route("/_fake/mode", self._control, methods=["POST"]),
            Route("/_fake/received", self._received, methods=["GET", "DELETE"]),
        ])
