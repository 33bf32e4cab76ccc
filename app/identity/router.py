"""HTTP routes of the identity domain: registration, own account, representatives, the dev JWKS.

Officials and clients live in `staff_router.py` and are included here.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse

from app.core.db import ReadSessionDep, SessionDep
from app.core.etag import PRECONDITION_PROBLEMS, IfMatch, version_tag
from app.core.idempotency import IdempotencyDep
from app.core.openapi import problems
from app.core.pagination import Page, PageDep
from app.core.problems import not_found
from app.core.routing import include_flat
from app.core.settings import get_settings
from app.identity import service
from app.identity.deps import ApplicantDep, CallerDep, OrganisationDep, TokenDep
from app.identity.schemas import (
    AccountOut,
    ContactsPatch,
    RegistrationIn,
    RepresentativeIn,
    RepresentativeOut,
    RepresentativePatch,
)
from app.identity.staff_router import router as staff_router

router = APIRouter()
accounts = APIRouter(prefix="/v1/accounts", tags=["accounts"])


@accounts.post("", status_code=201, summary="Register the caller's identity as an account",
               responses=problems("bad_request", "account_exists", "validation_error"))
async def register_account(token: TokenDep, body: RegistrationIn, session: SessionDep,
                           response: Response) -> AccountOut:
    """Identifiers come from the verified token (citizen id or tax code claim), never from the body. An identity
    whose identification number already has an account is linked to that account (one person, several
    identity providers) and the answer is that account."""
    account = await service.register(session, token, body)
    response.headers["Location"] = "/v1/accounts/me"
    return AccountOut.model_validate(account)


@accounts.get("/me", summary="The caller's account")
async def get_my_account(caller: CallerDep, session: ReadSessionDep) -> AccountOut:
    return AccountOut.model_validate(await service.get_account(session, caller.account_id))


@accounts.patch("/me", summary="Change the caller's contact details",
                responses=problems("bad_request", "validation_error"))
async def update_my_account(caller: ApplicantDep, body: ContactsPatch, session: SessionDep) -> AccountOut:
    return AccountOut.model_validate(await service.update_contacts(session, caller.account_id, body))


def _representative_out(mandate: service.Mandate, response: Response | None = None) -> RepresentativeOut:
    link, citizen = mandate.link, mandate.citizen
    if response is not None:  # the organisation changes a mandate's term with If-Match
        response.headers["ETag"] = version_tag(link.version)
    return RepresentativeOut(id=link.id, organisation_id=link.organisation_id,
                             citizen_account_id=link.citizen_account_id, citizen_id=citizen.citizen_id or "",
                             name=citizen.name, created_at=link.created_at, valid_from=link.valid_from,
                             valid_until=link.valid_until,
                             in_force=mandate.in_force)


@accounts.post("/me/representatives", status_code=201, response_model=RepresentativeOut,
               summary="Authorise a citizen account to act for the caller's organisation",
               responses=problems("bad_request", "conflict", "validation_error", "idempotency_in_progress",
                                  "idempotency_key_reused"))
async def add_representative(caller: OrganisationDep, body: RepresentativeIn, idem: IdempotencyDep,
                             session: SessionDep) -> Any:
    """`valid_from` and `valid_until` (optional) start and end the authorisation at those instants, as a paper one's
    term does; 422 if one is not in the future or the start is not before the end. The citizen is told (by their
    notification choices), as when its term is changed or it is withdrawn; the organisation and the citizen are
    reminded `DVC_MANDATE_EXPIRY_NOTICE_DAYS` (7) days before a term ends."""
    replay = await idem.replay_or_claim(scope=str(caller.account_id), payload=body)
    if replay:
        return replay
    mandate = await service.add_representative(session, caller.account_id, body.citizen_id, body.name,
                                               body.valid_until, body.valid_from)
    return await idem.respond(session, _representative_out(mandate), status_code=201,
                              headers={"Location": f"/v1/accounts/me/representatives/{mandate.link.id}",
                                       "ETag": version_tag(mandate.link.version)})


@accounts.get("/me/representatives", summary="Citizen accounts authorised to act for the caller's organisation")
async def list_representatives(caller: OrganisationDep, page: PageDep, session: ReadSessionDep,
                               in_force: Annotated[bool | None, Query(
                                   description="Only the authorisations in force now (true) or ended (false).")] = None,
                               ) -> Page[RepresentativeOut]:
    """Expired authorisations are listed too (`in_force` false) until withdrawn: one can be renewed."""
    rows, cursor = await service.list_representatives(session, caller.account_id, page, in_force)
    return Page(items=[_representative_out(mandate) for mandate in rows], next_cursor=cursor)


@accounts.get("/me/representatives/{representative_id}", response_model=RepresentativeOut,
              summary="One citizen account authorised to act for the caller's organisation, with its ETag",
              responses=problems("not_found"))
async def get_representative(caller: OrganisationDep, representative_id: uuid.UUID,
                             session: ReadSessionDep, response: Response) -> RepresentativeOut:
    """The link a `Location` from adding a representative names; only the caller's own links (404 otherwise)."""
    return _representative_out(await service.get_representative(session, caller.account_id, representative_id),
                               response)


@accounts.patch("/me/representatives/{representative_id}", response_model=RepresentativeOut,
                summary="Move the start or end of a representative's authorisation (If-Match)",
                responses=problems("bad_request", "not_found", "validation_error", *PRECONDITION_PROBLEMS))
async def change_representative(caller: OrganisationDep, representative_id: uuid.UUID, body: RepresentativePatch,
                                session: SessionDep, response: Response, if_match: IfMatch = None) -> RepresentativeOut:
    """Sets `valid_until` (a future instant, or null: until withdrawn), an expired authorisation's too (renewed), and
    `valid_from` (a future instant, or null: no start); the start stays before the end (422 naming the field sent).
    Requires `If-Match` with the link's ETag; answers the link as it now is with its new `ETag`. The citizen is told
    the new term; a new end gets its own reminder to the organisation and the citizen."""
    mandate = await service.change_representative(session, caller.account_id, representative_id, body, if_match)
    return _representative_out(mandate, response)


@accounts.delete("/me/representatives/{representative_id}", status_code=204,
                 summary="Withdraw a representative's authorisation",
                 responses=problems("not_found", "precondition_failed"))
async def remove_representative(caller: OrganisationDep, representative_id: uuid.UUID,
                                session: SessionDep, if_match: Annotated[str | None, Header(
                                    description="Optional: the ETag last read; 412 if the term changed since.")] = None,
                                ) -> Response:
    """The citizen is told that the organisation withdrew the authorisation."""
    await service.remove_representative(session, caller.account_id, representative_id, if_match)
    return Response(status_code=204)


@router.get("/dev/jwks.json", include_in_schema=False)
async def dev_jwks() -> JSONResponse:
    """The development identity provider's public keys; absent (404) outside DVC_ENV=dev."""
    import asyncio

    from app.identity import devidp

    settings = get_settings()
    if not settings.dev_features:
        raise not_found("page")
    return JSONResponse(await asyncio.to_thread(devidp.jwks, settings))


include_flat(router, accounts, staff_router)
