"""HTTP routes for officials (system admins anywhere, agency admins in their own agency) and clients (system
admins only)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.core.db import ReadSessionDep, SessionDep
from app.core.etag import PRECONDITION_PROBLEMS, IfMatch, version_tag
from app.core.idempotency import IdempotencyDep
from app.core.openapi import problems
from app.core.pagination import Page, PageDep
from app.core.problems import not_found
from app.core.routing import include_flat
from app.core.text import ONE_LINE
from app.identity import staff
from app.identity.deps import AdminDep, Principal, official
from app.identity.models import Account, AccountKind
from app.identity.schemas import ClientIn, ClientOut, ClientPatch, OfficialIn, OfficialOut, OfficialPatch

router = APIRouter()
officials = APIRouter(prefix="/v1/officials", tags=["officials"])
clients = APIRouter(prefix="/v1/clients", tags=["clients"])

AgencyAdminDep = Annotated[Principal, official("agency_admin")]
_IDEM = ("idempotency_in_progress", "idempotency_key_reused")


def _tagged(response: Response, account: Account) -> Account:
    """Officials and clients are changed with If-Match: every answer carrying one names its ETag."""
    response.headers["ETag"] = version_tag(account.version)
    return account


@officials.post("", status_code=201, response_model=OfficialOut, summary="Create an official bound to an identity",
                responses=problems("bad_request", "account_exists", "validation_error", *_IDEM))
async def create_official(caller: AgencyAdminDep, body: OfficialIn, idem: IdempotencyDep,
                          session: SessionDep) -> Any:
    replay = await idem.replay_or_claim(scope=str(caller.account_id), payload=body)
    if replay:
        return replay
    account = await staff.create_official(session, caller, body)
    return await idem.respond(session, OfficialOut.model_validate(account), status_code=201,
                              headers={"Location": f"/v1/officials/{account.id}", "ETag": version_tag(account.version)})


@officials.get("", summary="Officials (an agency admin sees its own agency only)")
async def list_officials(caller: AgencyAdminDep, page: PageDep, session: ReadSessionDep,
                         agency_code: Annotated[str | None, Query(max_length=64), ONE_LINE] = None,
                         ) -> Page[OfficialOut]:
    rows, cursor = await staff.list_officials(session, caller, page, agency_code)
    return Page(items=[OfficialOut.model_validate(a) for a in rows], next_cursor=cursor)


async def _visible_official(session: ReadSessionDep, caller: Principal, official_id: uuid.UUID) -> Account:
    account = await session.get(Account, official_id)
    if account is None or account.kind != AccountKind.official:
        raise not_found("official")
    if not staff.manages(caller, account):
        raise not_found("official")
    return account


@officials.get("/{official_id}", summary="One official, with its ETag", responses=problems("not_found"))
async def get_official(caller: AgencyAdminDep, official_id: uuid.UUID, session: ReadSessionDep,
                       response: Response) -> OfficialOut:
    return OfficialOut.model_validate(_tagged(response, await _visible_official(session, caller, official_id)))


@officials.patch("/{official_id}", summary="Change an official's roles, agency, contacts or status (If-Match)",
                 responses=problems("bad_request", "not_found", "validation_error", *PRECONDITION_PROBLEMS))
async def update_official(caller: AgencyAdminDep, official_id: uuid.UUID, body: OfficialPatch,
                          session: SessionDep, response: Response, if_match: IfMatch = None) -> OfficialOut:
    """Requires `If-Match` with the official's ETag; answers the official as it now is with its new `ETag`."""
    account = await staff.update_official(session, caller, official_id, body, if_match)
    return OfficialOut.model_validate(_tagged(response, account))


@clients.post("", status_code=201, response_model=ClientOut, summary="Register an integrator client",
              responses=problems("bad_request", "account_exists", "validation_error", *_IDEM))
async def create_client(caller: AdminDep, body: ClientIn, idem: IdempotencyDep, session: SessionDep) -> Any:
    replay = await idem.replay_or_claim(scope=str(caller.account_id), payload=body)
    if replay:
        return replay
    account = await staff.create_client(session, caller, body)
    return await idem.respond(session, ClientOut.model_validate(account), status_code=201,
                              headers={"Location": f"/v1/clients/{account.id}", "ETag": version_tag(account.version)})


@clients.get("", summary="Integrator clients")
async def list_clients(caller: AdminDep, page: PageDep, session: ReadSessionDep) -> Page[ClientOut]:
    rows, cursor = await staff.list_clients(session, page)
    return Page(items=[ClientOut.model_validate(a) for a in rows], next_cursor=cursor)


@clients.get("/{client_id}", summary="One integrator client, with its ETag", responses=problems("not_found"))
async def get_client(caller: AdminDep, client_id: uuid.UUID, session: ReadSessionDep,
                     response: Response) -> ClientOut:
    account = await session.get(Account, client_id)
    if account is None or account.kind != AccountKind.client:
        raise not_found("client")
    return ClientOut.model_validate(_tagged(response, account))


@clients.patch("/{client_id}", summary="Change a client's scopes, agencies, name or status (If-Match)",
               responses=problems("bad_request", "not_found", "validation_error", *PRECONDITION_PROBLEMS))
async def update_client(caller: AdminDep, client_id: uuid.UUID, body: ClientPatch, session: SessionDep,
                        response: Response, if_match: IfMatch = None) -> ClientOut:
    """Requires `If-Match` with the client's ETag; answers the client as it now is with its new `ETag`."""
    account = await staff.update_client(session, caller, client_id, body, if_match)
    return ClientOut.model_validate(_tagged(response, account))


include_flat(router, officials, clients)
