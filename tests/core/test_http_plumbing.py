"""Problem details, request ids, health, readiness and metrics through the real app."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import text

from app.core.db import build_engine, get_database
from app.core.settings import get_settings
from app.main import create_app

PROBLEM = "application/problem+json"


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "not_found"
    assert body["type"].endswith("/problems/not_found")
    assert body["instance"] == "/v1/no-such-thing"
    assert body["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["allow"] == "GET, HEAD"


async def test_allow_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    # RFC 9110 15.5.6: a 405's Allow lists the methods the resource supports. Each method of a path is its own
    # route, and Allow named only the first one's: PUT /v1/dossiers said "POST", hiding the list (GET).
    assert (await client.put("/v1/dossiers")).headers["allow"] == "GET, HEAD, POST"
    assert (await client.put("/v1/accounts/me")).headers["allow"] == "GET, HEAD, PATCH"
    dossier = await client.post("/v1/dossiers/00000000-0000-0000-0000-000000000000")
    assert dossier.status_code == 405
    assert dossier.headers["allow"] == "DELETE, GET, HEAD, PATCH"


class _Echo(BaseModel):
    name: str
    count: int


@pytest.fixture
async def scratch_client(database_url: str):  # type: ignore[no-untyped-def]
    """A second app instance with routes that exist only to exercise the error paths."""
    app = create_app()

    @app.post("/scratch/echo")
    async def echo(payload: _Echo) -> _Echo:
        return payload

    @app.get("/scratch/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("secret-internal-detail SELECT * FROM accounts")

    @app.get("/scratch/lost-connection")
    async def lost_connection() -> dict[str, str]:
        # A pooled connection the server drops inside the pool's check window (a restart moments after use).
        settings = get_settings().model_copy(update={"database_pool_size": 1, "database_max_overflow": 0,
                                                     "database_ping_after_idle_s": 3600})
        engine, admin = build_engine(settings), build_engine(settings)
        try:
            async with engine.connect() as connection:
                pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with admin.connect() as connection:
                await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()
            await admin.dispose()
        return {"unexpected": "the dead connection answered"}

    @app.get("/scratch/deadlock")
    async def deadlock() -> dict[str, str]:
        # Two transactions taking two locks in opposite orders: PostgreSQL aborts one of them (40P01).
        engine = get_database().write_engine
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(text("SELECT pg_advisory_xact_lock(4201)"))
            await second.execute(text("SELECT pg_advisory_xact_lock(4202)"))
            waiting = asyncio.create_task(first.execute(text("SELECT pg_advisory_xact_lock(4202)")))
            await asyncio.sleep(0.1)
            try:
                await second.execute(text("SELECT pg_advisory_xact_lock(4201)"))
            finally:
                await second.rollback()  # whichever was not the victim lets the other go
                await asyncio.gather(waiting, return_exceptions=True)
            await waiting
        return {"unexpected": "no deadlock"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


async def test_malformed_json_is_422_problem(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.post("/scratch/echo", content=b"{not json",
                                         headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "validation_error"


async def test_field_errors_are_listed(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.post("/scratch/echo", json={"name": "x", "count": "many"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["loc"] for e in errors] == [["body", "count"]]


async def test_unhandled_error_is_500_without_internals(scratch_client: httpx.AsyncClient,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        response = await scratch_client.get("/scratch/boom", headers={"X-Request-ID": "req-abc-123"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-request-id"] == "req-abc-123"
    body = response.json()
    assert body["code"] == "internal_error"
    assert body["request_id"] == "req-abc-123"
    assert "secret-internal-detail" not in response.text and "SELECT" not in response.text
    assert any("unhandled" in r.getMessage() for r in caplog.records)


async def test_a_connection_lost_under_a_request_is_503_retryable(scratch_client: httpx.AsyncClient) -> None:
    if get_settings().is_sqlite:
        pytest.skip("needs a database server that can drop a connection")
    response = await scratch_client.get("/scratch/lost-connection")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "database_unavailable"


async def test_a_transaction_the_database_aborts_to_break_a_deadlock_is_a_retryable_409(
        scratch_client: httpx.AsyncClient) -> None:
    """A 500 is a bug; a deadlock PostgreSQL broke by aborting this request's transaction is not one: nothing was
    saved and the same request normally succeeds when sent again."""
    if get_settings().is_sqlite:
        pytest.skip("SQLite serialises writers: no deadlock")
    response = await scratch_client.get("/scratch/deadlock")
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "conflict"


async def test_request_id_is_generated_when_absent_and_unsafe_ones_replaced(client: httpx.AsyncClient) -> None:
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    # Echoed in a response header: a final newline passed the pattern's `$`.
    newline = await client.get("/healthz", headers={"X-Request-ID": "req-1\n"})
    assert len(newline.headers["x-request-id"]) == 32


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"


async def test_readiness_fails_when_migrations_are_behind(client: httpx.AsyncClient,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core import ops

    monkeypatch.setattr(ops, "migration_heads", lambda: frozenset({"not-applied"}))
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "not_ready"
    assert response.headers["retry-after"] == "5"  # every 503 says when to come back (API-CONVENTIONS)


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    text = (await client.get("/metrics")).text
    assert 'dvc_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    # Issue 3: count and latency by route template and status (a slow 503 is not a slow 200).
    assert 'dvc_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}' in text
    assert "dvc_db_pool_size" in text and "dvc_db_direct_pool_waiting" in text


def test_log_lines_are_json_with_request_id() -> None:
    from app.core.logging import JsonFormatter

    record = logging.LogRecord("app", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.route = "/x"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello world" and line["route"] == "/x" and "request_id" in line


async def test_undecodable_body_is_422_not_400(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.post("/scratch/echo", content=b'{"name": "\xff\xfe", "count": 1}',
                                         headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_values_the_database_refuses_are_422(client: httpx.AsyncClient) -> None:
    # A NUL character passes HTTP validation but PostgreSQL refuses it in text; a forged cursor has the wrong type.
    nul = await client.get("/v1/agencies/a%00b")
    assert nul.status_code in (404, 422), nul.text
    from app.core.pagination import encode_cursor

    forged = await client.get("/v1/agencies", params={"cursor": encode_cursor([12345])})
    assert forged.status_code == 422, forged.text
    assert forged.json()["code"] == "validation_error"


@pytest.mark.parametrize(("path", "name"), [
    ("/v1/agencies", "parent"), ("/v1/fields", "agency"), ("/v1/procedures", "agency"), ("/v1/procedures", "field"),
    ("/v1/officials", "agency_code"), ("/v1/reports/indicators", "agency"), ("/v1/reports/indicators", "procedure"),
    ("/v1/public/late-dossiers", "agency")])
async def test_a_code_filter_with_a_control_character_is_a_422_on_the_parameter(client: httpx.AsyncClient, accounts,  # type: ignore[no-untyped-def]
                                                                             path: str, name: str) -> None:
    # The NUL reached the database: SQLite matched nothing (an empty list, or 404), PostgreSQL refused it with a 422
    # naming no parameter.
    admin = await accounts.admin()
    response = await client.get(path, params={name: "000.00.12\x00H01"}, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [["query", name]]


async def test_head_is_answered_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    # Uptime monitors and caches probe with HEAD; it was a 405 on every route.
    get = await client.get("/healthz")
    head = await client.head("/healthz")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]
    assert (await client.head("/v1/no-such-thing")).status_code == 404


async def test_access_line_is_the_same_json_with_or_without_the_direct_path(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # The access line skips the logging module when configure_logging's handler alone writes it; with any other
    # handler on the root logger (here a capturing one) the ordinary record is made. Both give the same object.
    from app.core.logging import configure_logging

    configure_logging("INFO")
    stream = _capture_root_stream()
    access = logging.getLogger("app.access")
    monkeypatch.setattr(access, "info", lambda *a, **k: pytest.fail("the direct path made a log record"))
    await client.get("/healthz?x=1", headers={"x-request-id": "req-1.a"})
    direct = _access_lines(stream.getvalue())[-1]
    monkeypatch.undo()

    captured: list[logging.LogRecord] = []
    capture = logging.Handler()
    monkeypatch.setattr(capture, "emit", captured.append)
    logging.root.addHandler(capture)
    try:
        await client.get("/healthz?x=1", headers={"x-request-id": "req-1.a"})
    finally:
        logging.root.removeHandler(capture)
    through_logging = _access_lines(stream.getvalue())[-1]
    assert [r.getMessage() for r in captured if r.name == "app.access"] == ["request"]
    for line in (direct, through_logging):
        line.pop("ts"), line.pop("duration_ms")
    assert direct == through_logging == {
        "level": "INFO", "logger": "app.access", "msg": "request", "request_id": "req-1.a",
        "method": "GET", "route": "/healthz", "path": "/healthz", "status": 200}
    assert len(_access_lines(stream.getvalue())) == 2  # one line per request, either way

    configure_logging("WARNING")  # below INFO: no access line at all
    quiet = _capture_root_stream()
    await client.get("/healthz")
    assert _access_lines(quiet.getvalue()) == []
    configure_logging("INFO")


def test_rendering_a_pdf_logs_nothing_at_info() -> None:
    # Each notice or receipt PDF wrote some twenty fontTools lines ("glyf pruned", ...) into the JSON log.
    from app.core.logging import configure_logging
    from app.core.pdf import render_document

    configure_logging("INFO")
    stream = _capture_root_stream()
    render_document(issuer="Sở Khoa học và Công nghệ", title="Giấy tiếp nhận hồ sơ", paragraphs=["Đã nhận."])
    assert stream.getvalue() == ""
    assert logging.getLogger("fontTools.subset").isEnabledFor(logging.WARNING)


async def test_access_lines_are_written_in_batches(client: httpx.AsyncClient) -> None:
    # DVC_ACCESS_LOG_FLUSH_MS: one write per batch of access lines, not one per request; nothing lost.
    from app.core.logging import configure_logging, flush_access_lines

    try:
        configure_logging("INFO", access_flush_ms=60_000)
        stream = _capture_root_stream()
        for n in range(3):
            await client.get(f"/healthz?n={n}")
        assert _access_lines(stream.getvalue()) == []  # waiting in the batch
        flush_access_lines()
        assert len(_access_lines(stream.getvalue())) == 3
        assert [text.count('"logger": "app.access"') for text in stream.texts if "app.access" in text] == [3]

        configure_logging("INFO", access_flush_ms=20)  # the interval passes: the timer writes the batch
        stream = _capture_root_stream()
        await client.get("/healthz")
        for _ in range(50):
            if _access_lines(stream.getvalue()):
                break
            await asyncio.sleep(0.02)
        assert len(_access_lines(stream.getvalue())) == 1
    finally:
        configure_logging("INFO")


class _CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def write(self, text: str) -> int:
        self.texts.append(text)
        return super().write(text)


def _capture_root_stream() -> _CountingStream:
    handler = logging.root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.stream = stream = _CountingStream()
    return stream


def _access_lines(text: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in text.splitlines()]
    return [line for line in lines if line["logger"] == "app.access"]
