"""For tests/dossiers/test_dossier_state_machine.py: what issue 6 and API-CONVENTIONS.md promise about a dossier
before and at submission, written out from their text (not read from the app): who sees which dossier, which
request is answered how (status and problem `code`), what a refused request leaves (nothing), the code's
format and sequence, the idempotent replays, the public tracking fields. The machine keeps its expectations
here and compares every answer with them.

Where the text leaves a choice open the model accepts either answer and the machine counts which one it saw
(see AMBIGUOUS below and the machine's final report)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.core.clock import LOCAL_TZ
from tests.support.identity_fixtures import Actor

# DOMAIN.md's national status codes for the states a dossier reaches before and at submission (a draft has none
# yet; issue 7's withdrawal is the one way out of `submitted` the applicant has).
NATIONAL_CODES: dict[str, int | None] = {"draft": None, "submitted": 1, "withdrawn": 7}
# Issue 6, GET /v1/public/dossiers/{code}: exactly these, "no personal data".
PUBLIC_FIELDS = frozenset({"code", "procedure_name", "agency_name", "state", "national_status_code", "received_at",
                           "due_at", "result_ready"})
# The fields of GET /v1/dossiers/{id} that a list item carries too (next_actions is for single reads only).
LIST_FIELDS = ("id", "code", "procedure_code", "procedure_version", "agency_code", "applicant", "actor", "channel",
               "delivery", "form", "state", "national_status_code", "created_at", "submitted_at", "version")
IDEMPOTENCY_TTL = timedelta(hours=24)  # API-CONVENTIONS.md: "within 24 h"
CODE_SEQ_DIGITS = 4  # issue 6: `{agency_code}-{YYMMDD}-{seq:04d}`

# Choices the issue leaves open, counted (not asserted) by the machine:
# - "refused_key_reused": whether the first answer replayed for a key is also a refusal (a 4xx), or only one
#   that did the work (a refused request frees its key and the retry runs afresh);
# - "upload_moves_etag": whether adding or deleting an attachment changes the dossier's ETag (DossierOut does not
#   carry the attachments; issue 6 does not say).
AMBIGUOUS = ("refused_key_reused", "upload_moves_etag")


@dataclass(frozen=True)
class Part:
    key: str
    required: bool
    media_types: tuple[str, ...]
    max_bytes: int = 20 * 1024 * 1024  # issue 6: "default 20 MiB"

    def catalogue(self) -> dict[str, Any]:
        return {"key": self.key, "name": f"Thành phần {self.key}", "required": self.required,
                "media_types": list(self.media_types), "max_bytes": self.max_bytes}


# A flat form schema (the catalogue's subset) and the fields a form fails it on.
FORM_SCHEMA: dict[str, Any] = {"type": "object", "required": ["ho_ten"], "properties": {
    "ho_ten": {"type": "string", "minLength": 1, "maxLength": 100},
    "so_ban": {"type": "integer", "minimum": 1, "maximum": 10}}}


def form_failures(schema: dict[str, Any] | None, form: dict[str, Any]) -> set[str]:
    """The fields of `form` that FORM_SCHEMA refuses (only the constraints it uses)."""
    if schema is None:
        return set()
    failing = {name for name in schema.get("required", []) if name not in form}
    for name, prop in schema["properties"].items():
        if name not in form:
            continue
        value = form[name]
        if prop["type"] == "string":
            ok = isinstance(value, str) and prop.get("minLength", 0) <= len(value) <= prop.get("maxLength", 10**9)
        else:
            ok = (isinstance(value, int) and not isinstance(value, bool)
                  and prop.get("minimum", -10**9) <= value <= prop.get("maximum", 10**9))
        if not ok:
            failing.add(name)
    return failing


@dataclass(frozen=True)
class Procedure:
    """One procedure as the example publishes it (or leaves unpublished)."""

    key: str  # the machine's name for it
    code: str
    name: str
    agency_code: str
    agency_name: str
    channels: tuple[str, ...]
    kinds: tuple[str, ...]  # applicant kinds
    parts: tuple[Part, ...]
    form_schema: dict[str, Any] | None = None
    published: bool = True

    def part(self, key: str) -> Part | None:
        return next((p for p in self.parts if p.key == key), None)

    def refusal_fields(self, channel: str, kind: str, form: dict[str, Any]) -> set[str] | None:
        """None when a draft may be filed with these; else the body fields a 422 names (possibly none known)."""
        if not self.published:
            return {"procedure_code"}
        bad = set()
        if channel not in self.channels:
            bad.add("channel")
        if kind not in self.kinds:
            bad.add("procedure_code")
        bad |= {f"form.{name}" for name in form_failures(self.form_schema, form)}
        return bad or None


@dataclass
class Caller:
    """Who sends a request: an account, possibly acting for an organisation (X-On-Behalf-Of)."""

    name: str
    actor: Actor
    kind: str  # citizen, organisation, official, client
    applicant: str | None = None  # for applicants: whose dossiers they handle (an account id)
    on_behalf_of: str | None = None
    agencies: frozenset[str] = frozenset()  # for officials and clients
    representative: bool = True  # False: X-On-Behalf-Of for an organisation it does not represent

    @property
    def headers(self) -> dict[str, str]:
        return {**self.actor.headers, **({"X-On-Behalf-Of": self.on_behalf_of} if self.on_behalf_of else {})}

    @property
    def account(self) -> str:
        """The idempotency scope: "Keys are scoped per account"."""
        return str(self.actor.id)

    @property
    def is_applicant(self) -> bool:
        return self.kind in ("citizen", "organisation")


@dataclass
class Attached:
    id: str
    part: str
    file_name: str
    media_type: str
    size: int
    sha256: str
    content: bytes


@dataclass
class Tracked:
    """One dossier as the model expects it (and as the machine last read it)."""

    id: str
    procedure: Procedure
    applicant: str  # account id
    applicant_kind: str
    actor: str | None  # the representative's account id, if a representative filed it
    channel: str
    delivery: dict[str, Any]
    form: dict[str, Any]
    state: str = "draft"  # draft, submitted, withdrawn, deleted
    code: str | None = None
    submitted_at: str | None = None
    etag: str = ""
    old_etags: list[str] = field(default_factory=list)
    view: dict[str, Any] = field(default_factory=dict)  # GET /v1/dossiers/{id} as an editor, last read
    attachments: dict[str, Attached] = field(default_factory=dict)
    gone_attachments: list[str] = field(default_factory=list)

    def missing_parts(self) -> set[str]:
        present = {a.part for a in self.attachments.values()}
        return {p.key for p in self.procedure.parts if p.required and p.key not in present}

    def visible_to(self, caller: Caller) -> bool:
        """Issue 6: applicants (and their representatives) their own; officials their agency's; clients with
        `dossiers:read` their agency scope; drafts are the applicant's alone."""
        if self.state == "deleted":
            return False
        if caller.is_applicant:
            return caller.applicant == self.applicant
        return self.state != "draft" and self.procedure.agency_code in caller.agencies

    def editable_by(self, caller: Caller) -> bool:
        return caller.is_applicant and caller.applicant == self.applicant


@dataclass
class Stored:
    """An Idempotency-Key's first answer."""

    fingerprint: str
    at: datetime
    status: int
    body: Any
    request: dict[str, Any] = field(default_factory=dict)  # what the machine sent, to send it again

    @property
    def refused(self) -> bool:
        return self.status >= 400

    def live(self, now: datetime) -> bool | None:
        """Replayed now? None within a second of the 24 h boundary (the text says "within 24 h")."""
        age = now - self.at
        if abs(age - IDEMPOTENCY_TTL) <= timedelta(seconds=1):
            return None
        return age < IDEMPOTENCY_TTL


def fingerprint(*parts: Any) -> str:
    return json.dumps(parts, sort_keys=True, default=str)


def code_pattern(agency_code: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(agency_code)}-(\d{{6}})-(\d{{{CODE_SEQ_DIGITS}}})")


def yymmdd(moment: datetime) -> str:
    """Issue 6: the date in the code is the local date in Asia/Ho_Chi_Minh."""
    return moment.astimezone(LOCAL_TZ).strftime("%y%m%d")


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def problem_code(response: httpx.Response) -> str | None:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    return str(response.json().get("code"))


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class MovingClock:
    """A replacement for app.core.clock.now: fixed at `moment`, which the machine moves forward only."""

    def __init__(self, at: datetime) -> None:
        self.moment = at

    def now(self) -> datetime:
        return self.moment.astimezone(UTC)


@dataclass
class Runtime:
    """What every example shares: one event loop and the app's client."""

    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)


def multipart(fields: list[tuple[str, str | tuple[str, bytes, str]]]) -> tuple[bytes, str]:
    """A multipart/form-data body with its fields in the given order (httpx always sends data before files)."""
    boundary = "dvc-machine-boundary-7f3a"
    chunks: list[bytes] = []
    for name, value in fields:
        if isinstance(value, str):
            head = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
            chunks.append(f"--{boundary}\r\n{head}".encode() + value.encode() + b"\r\n")
        else:
            file_name, content, media_type = value
            head = (f'Content-Disposition: form-data; name="{name}"; filename="{file_name}"\r\n'
                    f"Content-Type: {media_type}\r\n\r\n")
            chunks.append(f"--{boundary}\r\n{head}".encode() + content + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
