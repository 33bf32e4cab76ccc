"""create_app(): routers, middleware and exception handlers; nothing else."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.catalogue.router import router as catalogue_router
from app.complaints.router import router as complaints_router
from app.core import metrics, ops, pdfsign
from app.core.conditional import PreconditionListsMiddleware
from app.core.db import close_database
from app.core.logging import configure_logging, flush_access_lines
from app.core.openapi import build_openapi, operation_id
from app.core.problems import install_problem_handlers
from app.core.request_context import RequestContextMiddleware
from app.core.routing import IndexedDispatch, include_flat
from app.core.settings import get_settings
from app.dossiers.router import router as dossiers_router
from app.fees.router import router as fees_router
from app.identity.router import router as identity_router
from app.integration.router import router as integration_router
from app.notifications.router import lifespan as notifications_lifespan
from app.notifications.router import router as notifications_router
from app.reporting.router import router as reporting_router
from app.workflow.definition import definitions
from app.workflow.router import router as workflow_router

# What a browser front end sends and must be able to read (API-CONVENTIONS "Headers").
CORS_METHODS = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key",
                        "X-On-Behalf-Of", "X-Request-ID", "Accept"]
CORS_EXPOSED_HEADERS = ["ETag", "Location", "X-Request-ID", "Idempotent-Replayed", "Retry-After",
                        "Content-Disposition"]

API_DESCRIPTION = """Backend of an online public-service portal (Cổng dịch vụ công): identity-linked accounts,
the procedure catalogue, dossier submission, status transitions (Circular 22/2019/TT-BTTTT), fees and reports.
Errors are RFC 9457 `application/problem+json` with a stable `code`."""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Everything built at start-up (routes, schemas, mappers, ~220,000 objects) lives as long as the process:
    # moved out of the collector's reach, a full collection under load takes microseconds instead of ~70 ms
    # of a stalled event loop (gc.freeze; bench/PROFILE.md, session 3).
    gc.collect()
    gc.freeze()
    metrics.forget_dead_processes()
    pdfsign.announce()  # who signs issued documents; a warning in prod when nobody does
    async with notifications_lifespan(app):  # says which notification channels are on
        yield
    await close_database()  # graceful shutdown: uvicorn drains requests first, then pools close
    flush_access_lines()  # and the last requests' access lines are written


def create_app(*, serving: bool = True) -> FastAPI:
    """The application. `serving=False` builds it only to describe itself (`dvc openapi`): the storage check,
    which makes the directory and writes in it, is for a process that will store uploads, not for one printing
    the OpenAPI document from a read-only checkout."""
    settings = get_settings()  # fails fast, one line, on a bad DVC_* value
    if serving:
        ops.require_writable_storage(settings)  # and on a storage directory uploads could not be written to
    definitions()  # and on a broken workflow definition, before any request can need it
    configure_logging(settings.log_level, access_flush_ms=settings.access_log_flush_ms)
    app = FastAPI(
        title="dvc-service",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        servers=None,
    )
    install_problem_handlers(app)
    app.add_middleware(PreconditionListsMiddleware)
    app.add_middleware(RequestContextMiddleware)
    if origins := settings.cors_origins():
        # Outside the request context, so its own answers (413 payload_too_large, ...) carry the headers too and a
        # browser front end can read them. Tokens travel in Authorization, never cookies: no credentials mode.
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=CORS_METHODS,
                           allow_headers=CORS_REQUEST_HEADERS, expose_headers=CORS_EXPOSED_HEADERS, max_age=600)
    # Outermost, so logs and rate limits see the client a trusted proxy forwarded (uvicorn runs with
    # --no-proxy-headers: the app decides, from DVC_FORWARDED_ALLOW_IPS, under any server).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    include_flat(app.router, ops.router, identity_router, catalogue_router, dossiers_router, workflow_router,
                 fees_router, reporting_router, complaints_router, integration_router, notifications_router,
                 unique_id=operation_id)
    app.router.middleware_stack = IndexedDispatch(app.router)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app
