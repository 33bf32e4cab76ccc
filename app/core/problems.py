"""RFC 9457 problem details: every error leaves the service as `application/problem+json`.

Errors are exceptions carrying a stable `code`; one set of handlers turns them into bodies. The catalogue
below is the contract: a code keeps its status and meaning once released.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from app.core.request_context import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://dvc-service.gov.vn/problems/"

log = logging.getLogger("app.problems")


@dataclass(frozen=True)
class ProblemKind:
    status: int
    title: str
    title_vi: str


# code -> status, English title, Vietnamese title (shown to citizens).
PROBLEM_KINDS: dict[str, ProblemKind] = {
    "bad_request": ProblemKind(400, "Bad request", "Yêu cầu không hợp lệ"),
    "token_missing": ProblemKind(401, "Authentication required", "Cần đăng nhập"),
    "token_invalid": ProblemKind(401, "Invalid token", "Mã xác thực không hợp lệ"),
    "token_expired": ProblemKind(401, "Token expired", "Phiên đăng nhập đã hết hạn"),
    "callback_signature_invalid": ProblemKind(401, "Invalid callback signature", "Chữ ký không hợp lệ"),
    "account_not_registered": ProblemKind(403, "Account not registered", "Tài khoản chưa đăng ký"),
    "account_suspended": ProblemKind(403, "Account suspended", "Tài khoản đã bị khóa"),
    "forbidden_role": ProblemKind(403, "Role not allowed", "Không có quyền thực hiện"),
    "scope_missing": ProblemKind(403, "Scope missing", "Thiếu phạm vi truy cập"),
    "not_a_representative": ProblemKind(403, "Not a representative", "Không phải người đại diện"),
    "assurance_too_low": ProblemKind(403, "Assurance level too low", "Mức độ xác thực chưa đủ"),
    "not_found": ProblemKind(404, "Not found", "Không tìm thấy"),
    "method_not_allowed": ProblemKind(405, "Method not allowed", "Phương thức không được hỗ trợ"),
    "not_acceptable": ProblemKind(406, "Not acceptable", "Định dạng không được hỗ trợ"),
    "account_exists": ProblemKind(409, "Account exists", "Tài khoản đã tồn tại"),
    "conflict": ProblemKind(409, "Conflict", "Xung đột dữ liệu"),
    "version_published": ProblemKind(409, "Version published", "Phiên bản đã công bố"),
    "draft_stale": ProblemKind(409, "Draft out of date", "Bản nháp đã cũ"),
    "dossier_not_draft": ProblemKind(409, "Dossier is not a draft", "Hồ sơ không còn ở trạng thái nháp"),
    "attachments_closed": ProblemKind(409, "Attachments closed", "Không thể nộp thêm tệp"),
    "attachment_limit_reached": ProblemKind(409, "Attachment limit reached", "Hồ sơ đã đủ số tệp tối đa"),
    "transition_not_allowed": ProblemKind(409, "Transition not allowed", "Thao tác không hợp lệ"),
    "rating_not_allowed": ProblemKind(409, "Rating not allowed", "Chưa thể đánh giá hồ sơ"),
    "complaint_not_allowed": ProblemKind(409, "Complaint not allowed", "Chưa thể gửi phản ánh, kiến nghị về hồ sơ"),
    "complaint_already_answered": ProblemKind(409, "Complaint already answered", "Phản ánh, kiến nghị đã được trả lời"),
    "complaint_not_answered": ProblemKind(409, "Complaint not answered yet", "Phản ánh, kiến nghị chưa được trả lời"),
    "complaint_already_rated": ProblemKind(409, "Answer already rated", "Đã đánh giá việc trả lời phản ánh, kiến nghị"),
    "portal_disabled": ProblemKind(409, "National portal disabled", "Chưa bật đồng bộ Cổng Dịch vụ công quốc gia"),
    "workflow_unavailable": ProblemKind(409, "Workflow unavailable", "Quy trình xử lý không còn được áp dụng"),
    "fees_unpaid": ProblemKind(409, "Fees unpaid", "Chưa hoàn thành nghĩa vụ tài chính"),
    "payment_in_progress": ProblemKind(409, "Payment in progress", "Đang có giao dịch thanh toán"),
    "nothing_to_pay": ProblemKind(409, "Nothing to pay", "Không có khoản cần thanh toán"),
    "payment_succeeded": ProblemKind(409, "Payment succeeded", "Giao dịch đã thanh toán thành công"),
    "payment_not_live": ProblemKind(409, "Payment already ended", "Giao dịch thanh toán đã kết thúc"),
    "payment_not_cancellable": ProblemKind(409, "Payment not cancellable", "Không thể hủy giao dịch này"),
    "refund_amount_mismatch": ProblemKind(409, "Refund amount mismatch", "Số tiền hoàn không khớp"),
    "refund_not_pending": ProblemKind(409, "Refund not pending", "Yêu cầu hoàn tiền đã có kết quả"),
    "refund_awaiting_provider": ProblemKind(409, "Refund awaiting the provider",
                                            "Đang chờ kết quả hoàn tiền từ đơn vị thanh toán"),
    "idempotency_in_progress": ProblemKind(409, "Request in progress", "Yêu cầu đang được xử lý"),
    "delivery_in_progress": ProblemKind(409, "Delivery in progress", "Đang gửi thông báo này"),
    "precondition_failed": ProblemKind(412, "Precondition failed", "Dữ liệu đã thay đổi"),
    "file_too_large": ProblemKind(413, "File too large", "Tệp quá lớn"),
    "payload_too_large": ProblemKind(413, "Request too large", "Yêu cầu quá lớn"),
    "media_type_not_allowed": ProblemKind(415, "Media type not allowed", "Loại tệp không được chấp nhận"),
    "validation_error": ProblemKind(422, "Validation error", "Dữ liệu không hợp lệ"),
    "documents_missing": ProblemKind(422, "Documents missing", "Thiếu thành phần hồ sơ"),
    "idempotency_key_reused": ProblemKind(422, "Idempotency key reused", "Khóa chống lặp đã được dùng"),
    "result_not_signed": ProblemKind(422, "Result not signed", "Kết quả chưa được ký số"),
    "signing_key_unreadable": ProblemKind(422, "Signing key unreadable",
                                          "Không mở được tệp khóa ký số (sai tệp hoặc sai mật khẩu)"),
    "signing_key_incomplete": ProblemKind(422, "Signing key incomplete",
                                          "Tệp khóa ký số thiếu khóa bí mật hoặc chứng thư số tương ứng"),
    "signing_certificate_expired": ProblemKind(422, "Signing certificate expired", "Chứng thư số đã hết hạn"),
    "signing_certificate_not_yet_valid": ProblemKind(422, "Signing certificate not yet valid",
                                                     "Chứng thư số chưa có hiệu lực"),
    "precondition_required": ProblemKind(428, "Precondition required", "Thiếu điều kiện If-Match"),
    "rate_limited": ProblemKind(429, "Too many requests", "Quá nhiều yêu cầu"),
    "internal_error": ProblemKind(500, "Internal error", "Lỗi hệ thống"),
    "identity_provider_unavailable": ProblemKind(
        503, "Identity provider unavailable", "Hệ thống định danh không phản hồi"
    ),
    "not_ready": ProblemKind(503, "Not ready", "Dịch vụ chưa sẵn sàng"),
    "database_unavailable": ProblemKind(503, "Database unavailable", "Cơ sở dữ liệu tạm thời không phản hồi"),
    "payment_provider_unavailable": ProblemKind(
        503, "Payment provider unavailable", "Cổng thanh toán không phản hồi"
    ),
}


class ProblemFieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem; `code` is the stable machine-readable key."""

    type: str
    title: str
    title_vi: str | None = None
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str
    request_id: str | None = None
    errors: list[ProblemFieldError] | None = None
    extra: dict[str, Any] | None = Field(default=None, description="Code-specific details.")


class ProblemError(Exception):
    """Raise anywhere below the routers to answer with a problem; never carries internals."""

    def __init__(
        self,
        code: str,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code not in PROBLEM_KINDS:
            raise ValueError(f"unknown problem code {code!r}")
        super().__init__(detail or code)
        self.code = code
        self.detail = detail
        self.errors = errors
        self.extra = extra
        self.headers = dict(headers or {})
        if PROBLEM_KINDS[code].status == 503:  # every 503 says when to come back (API-CONVENTIONS), 5 s unless told
            self.headers.setdefault("Retry-After", "5")

    @property
    def status(self) -> int:
        return PROBLEM_KINDS[self.code].status


def not_found(what: str = "resource") -> ProblemError:
    return ProblemError("not_found", f"The {what} does not exist or is not visible to you.")


def validation_problem(errors: list[dict[str, Any]], detail: str | None = None) -> ProblemError:
    """422 with each failing field, for rules checked in services rather than by pydantic."""
    return ProblemError("validation_error", detail or "The request has invalid fields.", errors=errors)


def problem_body(
    code: str,
    *,
    instance: str | None,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    kind = PROBLEM_KINDS[code]
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": kind.title,
        "title_vi": kind.title_vi,
        "status": kind.status,
        "detail": detail or kind.title,
        "instance": instance,
        "code": code,
        "request_id": current_request_id(),
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body["extra"] = extra
    return body


def problem_response(
    code: str,
    *,
    instance: str | None,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = problem_body(code, instance=instance, detail=detail, errors=errors, extra=extra)
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE, headers=headers)


_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
                 415: "media_type_not_allowed", 400: "bad_request", 409: "conflict", 429: "rate_limited"}


_BODY_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's text for undecodable bodies


def database_unavailable() -> ProblemError:
    """The database connection broke under the request (nothing was committed): a retry gets a fresh one."""
    return ProblemError("database_unavailable", "The database connection was lost; nothing was saved. Retry shortly.",
                        headers={"Retry-After": "1"})


def value_refused() -> ProblemError:
    """The database refused a value that validation let through (an integer beyond its column, a NUL character,
    a cursor of the wrong type): bad input, not a server fault; the transaction is rolled back."""
    return ProblemError("validation_error", "A value in the request cannot be stored or compared (out of range, or "
                                            "containing characters such as NUL that are not allowed).")


# deadlock_detected, serialization_failure: PostgreSQL aborted one transaction of several to let the others on.
_CONCURRENCY_FAILURES = frozenset({"40P01", "40001"})


def _sqlstate(exc: DBAPIError) -> str:
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return str(getattr(cause, "sqlstate", "") or "")


def _is_data_exception(exc: DBAPIError) -> bool:
    """SQLSTATE class 22 (data exception), or a driver that refused to encode a parameter."""
    return isinstance(exc, DataError) or _sqlstate(exc).startswith("22")


def _clean_loc(loc: tuple[Any, ...] | list[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def _allowed_methods(request: Request) -> str:
    """Every method the path answers (RFC 9110: a 405's `Allow`). Starlette names only those of the first route
    matching the path, and each method of a path is its own route here (GET and PATCH /v1/accounts/me). A path a
    route without parameters spells out is that route's resource alone: POST /v1/dossiers/intake, not a dossier
    id of GET /v1/dossiers/{dossier_id} (app.core.routing.IndexedDispatch answers 405 for it likewise)."""
    methods: set[str] = set()
    own: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] != Match.NONE:
            methods.update(route_methods)
            if "{" not in getattr(route, "path_format", "{"):
                own.update(route_methods)
    methods = own or methods
    if "GET" in methods:
        methods.add("HEAD")  # served as the GET it stands for (app/core/request_context.py)
    return ", ".join(sorted(methods))


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.code, instance=request.url.path, detail=exc.detail, errors=exc.errors,
                                extra=exc.extra, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": _clean_loc(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
                  for e in exc.errors()]
        return problem_response("validation_error", instance=request.url.path,
                                detail="The request has invalid fields.", errors=errors)

    @app.exception_handler(DBAPIError)
    async def _data(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            # The connection broke under the request (a database restart inside the pool's check window):
            # nothing was committed, the pool has dropped its old connections, and a retry gets a fresh one.
            log.warning("database connection lost", extra={"path": request.url.path, "error": str(exc.orig)})
            return await _problem(request, database_unavailable())
        if _sqlstate(exc) in _CONCURRENCY_FAILURES:
            # The database broke a deadlock or a serialisation conflict by aborting this transaction: nothing of
            # it was saved, and the same request sent again normally succeeds.
            log.warning("database aborted a concurrent transaction", extra={"path": request.url.path,
                                                                            "error": str(exc.orig)})
            return await _problem(request, ProblemError(
                "conflict", "A concurrent change got in the way; nothing was saved. Send the request again.",
                headers={"Retry-After": "1"}))
        if not _is_data_exception(exc):
            raise exc
        log.warning("database refused a request value", extra={"path": request.url.path, "error": str(exc.orig)})
        return await _problem(request, value_refused())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _BODY_PARSE_ERROR:
            # A body that is not decodable JSON (e.g. invalid UTF-8) is malformed input like any other: 422.
            return problem_response("validation_error", instance=request.url.path,
                                    detail="The request body could not be parsed.",
                                    errors=[{"loc": ["body"], "msg": "body could not be parsed",
                                             "type": "body_invalid"}])
        code = _STATUS_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 500 else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers = {key: value for key, value in headers.items() if key.lower() != "allow"}
            headers["Allow"] = _allowed_methods(request)
        return problem_response(code, instance=request.url.path, detail=detail, headers=headers)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client went away mid-body (an upload cancelled, a connection dropped): its fault, not the server's.
        # The request's transaction rolls back; the answer is for the access log, nobody reads it.
        log.info("client disconnected before the request body was complete", extra={"path": request.url.path})
        return problem_response("bad_request", instance=request.url.path,
                                detail="The client went away before the request body was complete.")

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response("internal_error", instance=request.url.path,
                                detail="An unexpected error occurred; quote the request id when reporting it.")
