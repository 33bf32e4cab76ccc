"""Dossiers arriving from the national portal: `POST /v1/integration/dossiers`.

The portal forwards a dossier a citizen filed there. It becomes a submitted dossier here (channel `online`,
source `national_portal`) through the dossiers domain's own submit path, so it gets a code, a history entry
and a `dossier.submitted` event like any other; its status changes then flow back through the outbox.

Idempotent by the national dossier id: the portal retries on timeouts, and the same id again answers the
dossier already created (200) instead of a duplicate. Two concurrent deliveries of one id race on the
primary key of `national_dossiers`; the loser rolls back and answers the winner's dossier.

Order of work, as for uploads: files are staged (decoded, or fetched over HTTP) with no transaction open,
under the document part's size and type limits; then one write transaction creates the dossier, places the
files and submits. URL attachments pass the SSRF guard (app/integration/ssrf.py) and are streamed, stopping
at the limit (413 `file_too_large`); their type is sniffed from the bytes (415 `media_type_not_allowed`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import anyio.to_thread
import httpx
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from app.catalogue import service as catalogue
from app.core import clock
from app.core.db import get_database
from app.core.problems import ProblemError, validation_problem
from app.core.settings import get_settings
from app.dossiers.attachments import part_resolver
from app.dossiers.models import Attachment, AttachmentKind, Dossier, Source
from app.dossiers.storage import BlobStore, get_store
from app.dossiers.submission import create_forwarded
from app.dossiers.uploads import SNIFF_BYTES, PartRule, sanitise_file_name, sniff_media_type
from app.identity.deps import Principal
from app.integration import ssrf
from app.integration.models import NationalDossier
from app.integration.schemas import NationalDossierIn

READ_SCOPE = "dossiers:read"  # reads the agency's dossiers (app.dossiers.access)

# Tests route attachment URLs to a local ASGI app here; None means the network.
fetch_transport: httpx.AsyncBaseTransport | None = None
CHUNK = 64 * 1024


@dataclass
class Staged:
    part: str
    file_name: str
    path: Path
    size: int
    sha256: str
    media_type: str


def _too_large(limit: int) -> ProblemError:
    return ProblemError("file_too_large", f"An attachment is larger than the {limit} bytes allowed for its part.",
                        extra={"max_bytes": limit})


def _check_type(rule: PartRule, media_type: str, loc: list[Any]) -> None:
    if rule.media_types and media_type not in rule.media_types:
        raise ProblemError("media_type_not_allowed",
                           f"The file at {'.'.join(map(str, loc))} is {media_type}; this part accepts "
                           f"{', '.join(sorted(rule.media_types))}.",
                           extra={"media_type": media_type, "allowed": sorted(rule.media_types)})


class _StagingFile:
    """Hashes and writes chunks to a staging file, refusing past `limit` bytes."""

    def __init__(self, store: BlobStore, limit: int) -> None:
        self.path = store.staging_file()
        self.limit = limit
        self.size = 0
        self.head = b""
        self.digest = hashlib.sha256()
        self.handle: BinaryIO | None = None

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise _too_large(self.limit)
        if self.handle is None:
            self.handle = await anyio.to_thread.run_sync(self.path.open, "xb")
        self.digest.update(chunk)
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        await anyio.to_thread.run_sync(self.handle.write, chunk)

    async def close(self) -> None:
        if self.handle is not None:
            await anyio.to_thread.run_sync(self.handle.close)


async def _fetch(url: str, staging: _StagingFile, loc: list[Any]) -> None:
    def invalid(msg: str, kind: str) -> ProblemError:
        return validation_problem([{"loc": loc, "msg": msg, "type": kind}])

    try:
        await ssrf.check_url(url)
    except ssrf.UnsafeUrl as error:
        raise invalid(str(error), "unsafe_url") from error
    timeout = get_settings().integration_fetch_timeout_s
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(
                transport=fetch_transport, timeout=httpx.Timeout(timeout), follow_redirects=False) as http, \
                http.stream("GET", url) as response:
            if response.status_code != 200:
                raise invalid(f"fetching the file answered HTTP {response.status_code}", "fetch_failed")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > staging.limit:
                raise _too_large(staging.limit)
            async for chunk in response.aiter_bytes(CHUNK):
                await staging.write(chunk)
    except TimeoutError as error:
        raise invalid(f"fetching the file took longer than {timeout:g} s", "fetch_failed") from error
    except httpx.HTTPError as error:
        raise invalid(f"fetching the file failed: {type(error).__name__}", "fetch_failed") from error


async def _stage(index: int, item: Any, rules: dict[str, PartRule], store: BlobStore) -> Staged:
    loc: list[Any] = ["body", "attachments", index]
    rule = rules.get(item.part)
    if rule is None:
        raise validation_problem([{"loc": [*loc, "part"], "type": "unknown_part",
                                   "msg": f"unknown document part; expected one of {sorted(rules)}"}])
    staging = _StagingFile(store, min(rule.max_bytes, get_settings().max_upload_bytes))
    try:
        if item.content_base64 is not None:
            if len(item.content_base64) * 3 // 4 > staging.limit + 3:
                raise _too_large(staging.limit)
            try:
                content = base64.b64decode(item.content_base64, validate=True)
            except (binascii.Error, ValueError) as error:
                raise validation_problem([{"loc": [*loc, "content_base64"], "msg": "not valid base64"}]) from error
            await staging.write(content)
        else:
            await _fetch(str(item.url), staging, [*loc, "url"])
        await staging.close()
        if staging.size == 0:
            raise validation_problem([{"loc": loc, "msg": "the file is empty"}])
        media_type = sniff_media_type(staging.head)
        _check_type(rule, media_type, loc)
    except BaseException:
        await staging.close()
        staging.path.unlink(missing_ok=True)
        raise
    name = item.file_name or str(item.url or "").rsplit("/", 1)[-1].split("?", 1)[0] or item.part
    return Staged(part=item.part, file_name=sanitise_file_name(name), path=staging.path, size=staging.size,
                  sha256=staging.digest.hexdigest(), media_type=media_type)


async def _existing(national_id: str, client: Principal) -> Dossier | None:
    """The dossier an earlier call made for this national id, answered again only to a client that may see it: the
    one that forwarded it, or one reading its agency's dossiers (`dossiers:read`). The answer is the whole dossier
    (applicant, CCCD, form), so another `dossiers:sync`-only client of the agency, which `GET /v1/dossiers/{id}`
    answers 404, must not read it by replaying a national id: 409 `conflict`, as for another agency's."""
    async with get_database().read_sessions() as session:
        found = (await session.execute(select(Dossier, NationalDossier.client_id).join(
            NationalDossier, NationalDossier.dossier_id == Dossier.id).where(
            NationalDossier.national_dossier_id == national_id))).one_or_none()
    if found is None:
        return None
    dossier, forwarded_by = found
    if dossier.agency_code not in client.agency_codes:
        raise ProblemError("conflict", "This national dossier id is already used for another agency's dossier.")
    if forwarded_by != client.account_id and READ_SCOPE not in client.scopes:
        raise ProblemError("conflict", "This national dossier id was forwarded by another client.")
    return dossier


async def receive(client: Principal, data: NationalDossierIn,
                  store: BlobStore | None = None) -> tuple[Dossier, bool]:
    """The dossier for this national id, and whether it was created now (False: an earlier call made it)."""
    store = store or get_store()
    existing = await _existing(data.national_dossier_id, client)
    if existing is not None:
        return existing, False
    async with get_database().read_sessions() as session:
        version = await catalogue.get_published_version(session, data.procedure_code)
    if version is None:
        raise validation_problem([{"loc": ["body", "procedure_code"], "type": "not_published",
                                   "msg": "no published procedure with this code"}])
    if version.agency_code not in client.agency_codes:
        raise ProblemError("forbidden_role", f"This client may not act for agency {version.agency_code}.")
    resolve = part_resolver(version, AttachmentKind.document)
    rules = {p["key"]: resolve(p["key"]) for p in (version.document_parts or [])}
    staged: list[Staged] = []
    try:
        for index, item in enumerate(data.attachments):
            staged.append(await _stage(index, item, rules, store))
        return await _create(client, data, version, staged, store)
    finally:
        for done in staged:
            done.path.unlink(missing_ok=True)  # already moved when placed


async def _create(client: Principal, data: NationalDossierIn, version: Any, staged: list[Staged],
                  store: BlobStore) -> tuple[Dossier, bool]:
    async def attach(dossier: Dossier) -> None:
        for item in staged:
            key, _ = await store.place(item.path, item.sha256)
            session.add(Attachment(dossier_id=dossier.id, part=item.part, kind=AttachmentKind.document.value,
                                   file_name=item.file_name, media_type=item.media_type, size=item.size,
                                   sha256=item.sha256, storage_key=key, uploaded_by=client.account_id,
                                   uploaded_at=clock.now()))
        await session.flush()

    try:
        async with get_database().write_sessions() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                # Serialise calls for one national id, so the loser waits and finds the dossier instead of
                # rolling back (a rollback would also leave a gap in outbox ids that delays consumers).
                await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                      {"key": f"national_dossier:{data.national_dossier_id}"})
            taken = await session.get(NationalDossier, data.national_dossier_id)
            if taken is None:
                applicant = data.applicant
                dossier = await create_forwarded(
                    session, client, version, applicant=applicant.identity(), form=data.form,
                    source=Source.national_portal.value, contact_email=applicant.email,
                    contact_phone=applicant.phone, attach=attach)
                session.add(NationalDossier(national_dossier_id=data.national_dossier_id, dossier_id=dossier.id,
                                            client_id=client.account_id, received_at=clock.now()))
                await session.flush()
                return dossier, True
    except IntegrityError:
        pass  # a concurrent call with the same national id won
    existing = await _existing(data.national_dossier_id, client)
    if existing is None:  # not a duplicate after all: let the error surface
        raise ProblemError("conflict", "The dossier could not be recorded; try again.")
    return existing, False

