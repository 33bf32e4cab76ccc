"""HTTP routes of the catalogue domain: public reads, editor writes, bulk import/export."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from app.catalogue import content, importer, search, service, signing_keys, versions
from app.catalogue.models import Agency, AgencySigningKey, OnlineLevel, ProcedureVersion
from app.catalogue.schemas import (
    AgencyIn,
    AgencyOut,
    AgencyPatch,
    CatalogueDocument,
    FieldIn,
    FieldOut,
    ImportSummary,
    ProcedureCreate,
    ProcedureOut,
    PublishIn,
    RetireIn,
    VersionPatch,
)
from app.catalogue.signing_key_schemas import SigningKeyIn, SigningKeyOut
from app.core.conditional import NOT_MODIFIED_RESPONSE, IfNoneMatch, not_modified
from app.core.db import ReadSessionDep, SessionDep
from app.core.etag import PRECONDITION_PROBLEMS, IfMatch, version_tag
from app.core.openapi import problems
from app.core.pagination import Page, PageDep
from app.core.problems import not_found, validation_problem
from app.core.text import DECIMAL_DIGITS, ONE_LINE, path_code
from app.identity.deps import AdminDep, Principal, official_or_client

# A version number; bounded so that absurd path values are a 422, not a database integer overflow.
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000), DECIMAL_DIGITS]
# Codes in the path: one with control characters names nothing, a 404 before the database is asked.
AgencyCodePath = Annotated[str, path_code("agency")]
ProcedureCodePath = Annotated[str, path_code("procedure")]
FieldCodePath = Annotated[str, path_code("field")]

router = APIRouter(tags=["catalogue"])

EditorDep = Annotated[Principal, official_or_client(roles=("agency_admin",), scopes=("catalogue:write",))]


# --- public ------------------------------------------------------------------------------------------------

@router.get("/v1/agencies", response_model=Page[AgencyOut], responses=problems("validation_error"))
async def catalogue_list_agencies(session: ReadSessionDep, page: PageDep,
                                  parent: Annotated[str | None, Query(max_length=64), ONE_LINE] = None,
                                  ) -> Page[AgencyOut]:
    rows, cursor = await service.list_agencies(session, page, parent=parent)
    return Page(items=[AgencyOut.model_validate(a) for a in rows], next_cursor=cursor)


def _agency_out(response: Response, agency: Agency) -> AgencyOut:
    """An agency is changed with If-Match: every answer carrying one names its ETag."""
    response.headers["ETag"] = version_tag(agency.version)
    return AgencyOut.model_validate(agency)


@router.get("/v1/agencies/{code}", response_model=AgencyOut,
            responses={**problems("not_found"), **NOT_MODIFIED_RESPONSE})
async def catalogue_get_agency(code: AgencyCodePath, session: ReadSessionDep, response: Response,
                               if_none_match: IfNoneMatch = None) -> AgencyOut | Response:
    """One agency, with the `ETag` a change to it needs (every stored change moves it: 304 while it has not)."""
    agency = await service.get_agency(session, code)
    if agency is None:
        raise not_found("agency")
    return not_modified(if_none_match, version_tag(agency.version)) or _agency_out(response, agency)


@router.get("/v1/fields", response_model=Page[FieldOut], responses=problems("validation_error"))
async def catalogue_list_fields(session: ReadSessionDep, page: PageDep,
                                agency: Annotated[str | None, Query(max_length=64), ONE_LINE] = None) -> Page[FieldOut]:
    rows, cursor = await service.list_fields(session, page, agency=agency)
    return Page(items=[FieldOut.model_validate(f) for f in rows], next_cursor=cursor)


@router.get("/v1/fields/{code}", response_model=FieldOut, responses=problems("not_found"))
async def catalogue_get_field(code: FieldCodePath, session: ReadSessionDep) -> FieldOut:
    """One field: what the `Location` of its creation names."""
    row = await service.get_field(session, code)
    if row is None:
        raise not_found("field")
    return FieldOut.model_validate(row)


@router.get("/v1/procedures", response_model=Page[ProcedureOut], responses=problems("validation_error"))
async def catalogue_search_procedures(
    session: ReadSessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Words, with or without Vietnamese accents.")] = None,
    agency: Annotated[str | None, Query(max_length=64), ONE_LINE] = None,
    field: Annotated[str | None, Query(max_length=64), ONE_LINE] = None,
    online_level: OnlineLevel | None = None,
    channel: Literal["online", "desk", "post"] | None = None,
    applicant_kind: Literal["citizen", "organisation"] | None = None,
) -> Page[ProcedureOut]:
    """Procedures in force; with `q`, best match first (see app/catalogue/search.py for the ranking)."""
    rows, cursor = await search.search_procedures(session, page, q=q, agency=agency, field=field,
                                                  online_level=online_level, channel=channel,
                                                  applicant_kind=applicant_kind)
    return Page(items=[content.to_out(v) for v in rows], next_cursor=cursor)


@router.get("/v1/procedures/{code}", response_model=ProcedureOut,
            responses={**problems("not_found"), **NOT_MODIFIED_RESPONSE})
async def catalogue_get_procedure(code: ProcedureCodePath, session: ReadSessionDep, response: Response,
                                  if_none_match: IfNoneMatch = None) -> ProcedureOut | Response:
    """The version in force now, with an `ETag` that changes whenever it does (304 while it has not)."""
    version = await service.get_published_version(session, code)
    if version is None:
        raise not_found("procedure")
    out = content.to_out(version)
    etag = content.etag_of(out)  # a hash of the answer itself
    if (unchanged := not_modified(if_none_match, etag)) is not None:
        return unchanged
    response.headers["ETag"] = etag
    return out


@router.get("/v1/procedures/{code}/versions", response_model=Page[ProcedureOut], responses=problems("not_found"))
async def catalogue_list_versions(code: ProcedureCodePath, session: ReadSessionDep) -> Page[ProcedureOut]:
    """Published and retired versions, oldest first (a draft is for editors: `GET /v1/procedures/{code}/draft`)."""
    rows = await versions.list_versions(session, code)
    return Page(items=[content.to_out(v) for v in rows], next_cursor=None)


# --- editors -----------------------------------------------------------------------------------------------

_WRITE_PROBLEMS = ("not_found", "validation_error", "forbidden_role")


@router.post("/v1/agencies", status_code=201, response_model=AgencyOut, responses=problems(*_WRITE_PROBLEMS))
async def catalogue_create_agency(body: AgencyIn, editor: EditorDep, session: SessionDep,
                                  response: Response) -> AgencyOut:
    agency = await service.create_agency(session, editor, body)
    response.headers["Location"] = f"/v1/agencies/{agency.code}"
    return _agency_out(response, agency)


@router.patch("/v1/agencies/{code}", response_model=AgencyOut,
              responses=problems(*_WRITE_PROBLEMS, *PRECONDITION_PROBLEMS))
async def catalogue_update_agency(code: AgencyCodePath, body: AgencyPatch, editor: EditorDep, session: SessionDep,
                                  response: Response, if_match: IfMatch = None) -> AgencyOut:
    """Change an agency (If-Match required); answers it as it now is with its new `ETag`."""
    return _agency_out(response, await service.update_agency(session, editor, code, body, if_match))


# --- an agency's signing key (system administrators) ---------------------------------------------------------

_KEY_PROBLEMS = ("not_found", "forbidden_role")
_KEY_UPLOAD_PROBLEMS = (*_KEY_PROBLEMS, *PRECONDITION_PROBLEMS, "validation_error", "signing_key_unreadable",
                        "signing_key_incomplete", "signing_certificate_expired", "signing_certificate_not_yet_valid")


def _key_out(response: Response, key: AgencySigningKey) -> SigningKeyOut:
    response.headers["ETag"] = signing_keys.key_etag(key)
    return SigningKeyOut.model_validate(key)


@router.get("/v1/agencies/{code}/signing-key", response_model=SigningKeyOut, responses=problems(*_KEY_PROBLEMS))
async def catalogue_get_signing_key(code: AgencyCodePath, admin: AdminDep, session: ReadSessionDep,
                                    response: Response) -> SigningKeyOut:
    """The certificate of the key the agency signs its documents with (never the key), with the `ETag` a
    replacement or removal needs; 404 when the agency has none (its documents are signed with the deployment's
    key, or not at all)."""
    return _key_out(response, await signing_keys.key_of(session, code))


@router.put("/v1/agencies/{code}/signing-key", response_model=SigningKeyOut,
            responses=problems(*_KEY_UPLOAD_PROBLEMS))
async def catalogue_put_signing_key(code: AgencyCodePath, body: SigningKeyIn, admin: AdminDep, session: SessionDep,
                                    response: Response, if_match: IfMatch = None) -> SigningKeyOut:
    """Upload the agency's signing key: the PKCS#12 file its CA issued (base64) and its passphrase, used once and
    never stored. Replacing a key takes `If-Match` with its `ETag`; the first upload needs none. 422
    `signing_key_unreadable` (not PKCS#12, or a wrong passphrase), `signing_key_incomplete` (no private key, or
    not its certificate), `signing_certificate_expired`, `signing_certificate_not_yet_valid`. Documents issued
    after the change commits are signed with the new key, by every worker."""
    key = await signing_keys.put_key(session, admin.account_id, code, body.pkcs12,
                                     body.passphrase.get_secret_value(), if_match)
    return _key_out(response, key)


@router.delete("/v1/agencies/{code}/signing-key", status_code=204,
               responses=problems(*_KEY_PROBLEMS, *PRECONDITION_PROBLEMS))
async def catalogue_delete_signing_key(code: AgencyCodePath, admin: AdminDep, session: SessionDep,
                                       if_match: IfMatch = None) -> Response:
    """Remove the agency's signing key (`If-Match` required): its documents are signed with the deployment's key
    again, or not at all."""
    await signing_keys.remove_key(session, admin.account_id, code, if_match)
    return Response(status_code=204)


@router.post("/v1/fields", status_code=201, response_model=FieldOut, responses=problems(*_WRITE_PROBLEMS))
async def catalogue_create_field(body: FieldIn, editor: EditorDep, session: SessionDep,
                                 response: Response) -> FieldOut:
    row = await service.create_field(session, editor, body)
    response.headers["Location"] = f"/v1/fields/{row.code}"  # codes are URL-safe (CODE_PATTERN)
    return FieldOut.model_validate(row)


def _version_out(response: Response, version: ProcedureVersion) -> ProcedureOut:
    """A version is changed, published and retired with If-Match: every answer carrying one names its ETag."""
    response.headers["ETag"] = versions.version_etag(version)
    return content.to_out(version)


def _new_version_out(response: Response, version: ProcedureVersion) -> ProcedureOut:
    response.headers["Location"] = f"/v1/procedures/{version.procedure_code}/versions/{version.version}"
    return _version_out(response, version)


@router.post("/v1/procedures", status_code=201, response_model=ProcedureOut, responses=problems(*_WRITE_PROBLEMS))
async def catalogue_create_procedure(body: ProcedureCreate, editor: EditorDep, session: SessionDep,
                                     response: Response) -> ProcedureOut:
    """A new procedure with its first draft (version 1)."""
    version = await versions.create_procedure(session, editor, body)
    return _new_version_out(response, version)


@router.post("/v1/procedures/{code}/versions", status_code=201, response_model=ProcedureOut,
             responses=problems(*_WRITE_PROBLEMS, "conflict"))
async def catalogue_create_version(code: ProcedureCodePath, editor: EditorDep, session: SessionDep,
                                   response: Response) -> ProcedureOut:
    """A new draft, copied from the version in force. A procedure has at most one draft: 409 `conflict` when it
    has one already, its number in `extra.draft_version` (and `GET /v1/procedures/{code}/draft` answers it)."""
    version = await versions.new_draft(session, editor, code)
    return _new_version_out(response, version)


@router.get("/v1/procedures/{code}/draft", response_model=ProcedureOut,
            responses=problems("not_found", "forbidden_role"))
async def catalogue_get_draft(code: ProcedureCodePath, editor: EditorDep, session: ReadSessionDep,
                              response: Response) -> ProcedureOut:
    """The procedure's draft (it has at most one), for its editors, with the `ETag` a change to it needs; 404 when
    it has none. The version list shows published and retired versions only."""
    version = await versions.get_draft(session, code)
    if version is None:
        raise not_found("draft of this procedure")
    service.require_edit(editor, version.agency_code)
    return _version_out(response, version)


@router.get("/v1/procedures/{code}/versions/{n}", response_model=ProcedureOut,
            responses=problems("not_found", "forbidden_role"))
async def catalogue_get_version(code: ProcedureCodePath, n: VersionNumber, editor: EditorDep, session: ReadSessionDep,
                                response: Response) -> ProcedureOut:
    """Any version, drafts included (for editors), with the `ETag` a change to a draft needs."""
    version = await service.get_version(session, code, n)
    if version is None:
        raise not_found("procedure version")
    service.require_edit(editor, version.agency_code)
    return _version_out(response, version)


@router.patch("/v1/procedures/{code}/versions/{n}", response_model=ProcedureOut,
              responses=problems(*_WRITE_PROBLEMS, *PRECONDITION_PROBLEMS, "version_published", "conflict"))
async def catalogue_update_version(code: ProcedureCodePath, n: VersionNumber, body: VersionPatch, editor: EditorDep,
                                   session: SessionDep, response: Response, if_match: IfMatch = None,
                                   ) -> ProcedureOut:
    """Change a draft (If-Match required; answers its new `ETag`); published versions are immutable (409
    `version_published`)."""
    return _version_out(response, await versions.patch_draft(session, editor, code, n, body, if_match))


@router.delete("/v1/procedures/{code}/versions/{n}", status_code=204,
               responses=problems("not_found", "forbidden_role", *PRECONDITION_PROBLEMS, "version_published",
                                  "conflict"))
async def catalogue_delete_draft(code: ProcedureCodePath, n: VersionNumber, editor: EditorDep, session: SessionDep,
                                 if_match: IfMatch = None) -> Response:
    """Discard a draft (If-Match required). Published and retired versions are history (409
    `version_published`); a procedure's only version stays (409 `conflict`). Version numbers are never given
    again: the next draft takes a new one."""
    await versions.delete_draft(session, editor, code, n, if_match=if_match)
    return Response(status_code=204)


@router.post("/v1/procedures/{code}/versions/{n}/publish", response_model=ProcedureOut,
             responses=problems(*_WRITE_PROBLEMS, *PRECONDITION_PROBLEMS, "version_published", "conflict",
                                "draft_stale"))
async def catalogue_publish_version(code: ProcedureCodePath, n: VersionNumber, editor: EditorDep, session: SessionDep,
                                    response: Response, body: PublishIn | None = None,
                                    if_match: IfMatch = None) -> ProcedureOut:
    """Publish a draft from `valid_from` (default now), retiring the version in force at that instant. If-Match
    required: only the draft as the editor read it is published (428 without it, 412 if it changed since). 409
    `draft_stale` when a version was published after the draft was copied (`extra.newer_version`): publishing it
    would undo that version."""
    valid_from = body.valid_from if body else None
    return _version_out(response, await versions.publish(session, editor, code, n, valid_from, if_match=if_match))


@router.post("/v1/procedures/{code}/versions/{n}/retire", response_model=ProcedureOut,
             responses=problems(*_WRITE_PROBLEMS, *PRECONDITION_PROBLEMS, "conflict"))
async def catalogue_retire_version(code: ProcedureCodePath, n: VersionNumber, editor: EditorDep, session: SessionDep,
                                   response: Response, body: RetireIn | None = None,
                                   if_match: IfMatch = None) -> ProcedureOut:
    """Withdraw a published version from `valid_to` (default now) without a successor. If-Match required: only
    the version as the editor read it is retired (428 without it, 412 if it changed since)."""
    valid_to = body.valid_to if body else None
    return _version_out(response, await versions.retire(session, editor, code, n, valid_to, if_match=if_match))


@router.post("/v1/procedures/{code}/versions/{n}/cancel", response_model=ProcedureOut,
             responses=problems(*_WRITE_PROBLEMS, *PRECONDITION_PROBLEMS, "conflict"))
async def catalogue_cancel_publication(code: ProcedureCodePath, n: VersionNumber, editor: EditorDep,
                                       session: SessionDep, response: Response, if_match: IfMatch = None,
                                       ) -> ProcedureOut:
    """Cancel a publication scheduled for later (`valid_from` still ahead): the version is a draft again, to correct
    and publish anew, and the version in force stays in force as it was before the publication (409 `conflict`
    for a draft, or a version in force or ended, or while the procedure has a draft: `extra.draft_version` names
    it). If-Match required, as for `publish`."""
    return _version_out(response, await versions.cancel(session, editor, code, n, if_match=if_match))


@router.get("/v1/catalogue/export", response_model=CatalogueDocument)
async def catalogue_export(editor: EditorDep, session: ReadSessionDep) -> CatalogueDocument:
    """Agencies, fields and procedures in the import format (for catalogue editors): per procedure, the version in
    force now, then any scheduled to replace it, each from its `valid_from`."""
    return await importer.export_document(session)


_IMPORT_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/CatalogueDocument"}}}}}


@router.post("/v1/catalogue/import", response_model=ImportSummary, openapi_extra=_IMPORT_BODY,
             responses=problems(*_WRITE_PROBLEMS, "conflict"))
async def catalogue_import(request: Request, editor: EditorDep, session: SessionDep) -> ImportSummary:
    """Validate the whole document, then write it; any error -> 422 listing each with its JSON `pointer`."""
    try:
        raw = await request.json()
    # Like any undecodable body (app.core.problems): malformed input, 422. json.loads recurses once per level of
    # nesting, so a body nested deeper than the interpreter's limit is a RecursionError, not a ValueError (FastAPI
    # turns both into the same 400 that app.core.problems answers as 422 on every other route).
    except (ValueError, RecursionError) as error:
        raise validation_problem([service.field_error(["body"], "body could not be parsed", "body_invalid")],
                                 "The request body could not be parsed.") from error
    return await importer.import_document(session, editor, raw)

