"""Streaming multipart upload: fields `part` (a document part key) and `file`.

Starlette's `request.form()` spools whole files to the system temp folder before the route runs, so it can
neither refuse an oversized file early nor keep memory flat. Here python-multipart's streaming parser runs
over `request.stream()`: the file is hashed while it is written to a staging file in DVC_STORAGE_DIR, refused
with 413 the moment it passes its limit, and its type is decided by its first bytes (magic numbers), never by
the client's Content-Type. Any failure, including the client going away, removes the staging file.

Limits per file: the document part's `max_bytes` (default 20 MiB), never above DVC_MAX_UPLOAD_BYTES. Clients
should send `part` before `file` (curl -F and httpx do); when `file` comes first only the global cap applies
while streaming and the part's limit is checked when the part becomes known.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import anyio.to_thread
import filetype
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from app.core.problems import ProblemError, validation_problem
from app.core.settings import get_settings
from app.dossiers.storage import BlobStore

DEFAULT_PART_MAX_BYTES = 20 * 1024 * 1024
SNIFF_BYTES = 8192  # filetype looks at most at the first 8 KiB
FLUSH_BYTES = 256 * 1024
FIELD_MAX_BYTES = 1024
# Headers, boundaries and the small `part` field on top of the file itself.
ENVELOPE_BYTES = 64 * 1024


@dataclass(frozen=True)
class PartRule:
    """What one document part accepts."""

    max_bytes: int = DEFAULT_PART_MAX_BYTES
    media_types: frozenset[str] = frozenset()  # empty: any type


@dataclass
class ReceivedUpload:
    part: str
    file_name: str
    staged: Path
    size: int
    sha256: str
    media_type: str


PartResolver = Callable[[str], PartRule]
"""Maps a part key to its rule; raises a 422 problem for an unknown key."""

_UNSAFE = re.compile(r"[\x00-\x1f\x7f\"\\/:*?<>|]")


def sanitise_file_name(raw: str) -> str:
    """A display name only (storage is by hash): no directories, control characters or leading dots, and no
    invisible format characters (a right-to-left override shows `abc\u202efdp.exe` as `abcexe.pdf`)."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) != "Cf")
    name = _UNSAFE.sub("_", name)
    while name != (trimmed := name.strip().lstrip(".")):  # ". . .x" loses every leading dot and space
        name = trimmed
    return _fit(name) or "file"


def _fit(name: str) -> str:
    """At most 200 characters, keeping a short extension."""
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 16 else name[:200]
    return name


# An XML document opens with its declaration, after an optional byte-order mark (filetype has no XML matcher, so
# without this every XML file was octet-stream and a part or result accepting application/xml took none). The
# declaration is required: a bare `<` would also let HTML in.
_XML_DECLARATION = re.compile(rb"^(?:\xef\xbb\xbf)?<\?xml[ \t\r\n]")


def sniff_media_type(head: bytes) -> str:
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    return "application/xml" if _XML_DECLARATION.match(head) else "application/octet-stream"


# Extensions a type may carry besides filetype's own, and the one for the types filetype does not know.
_EXTENSION_ALIASES = {"image/jpeg": {"jpeg", "jpe", "jfif"}, "image/tiff": {"tiff"}}
_EXTENSIONS = {"application/xml": "xml"}


def name_for_content(file_name: str, media_type: str) -> str:
    """The display name, with the extension of the content's type appended when the name claims another one
    (`setup.exe` holding a PDF becomes `setup.exe.pdf`): whoever downloads it opens what was checked, not a
    PDF/HTA polyglot that a Windows desktop would run. A name without extension, or of an unknown type, stays."""
    kind = filetype.get_type(mime=media_type)
    extension = str(kind.extension) if kind is not None else _EXTENSIONS.get(media_type)
    stem, dot, current = file_name.rpartition(".")
    if extension is None or not dot or not stem:
        return file_name
    if current.lower() in {extension, *_EXTENSION_ALIASES.get(media_type, ())}:
        return file_name
    return _fit(f"{file_name}.{extension}")


def too_large(limit: int) -> ProblemError:
    return ProblemError("file_too_large", f"The file is larger than the {limit} bytes allowed for this part.",
                        extra={"max_bytes": limit})


def media_type_refused(media_type: str, allowed: frozenset[str]) -> ProblemError:
    return ProblemError("media_type_not_allowed",
                        f"The file's content is {media_type}; this part accepts {', '.join(sorted(allowed))}.",
                        extra={"media_type": media_type, "allowed": sorted(allowed)})


@dataclass
class _FilePart:
    path: Path
    handle: BinaryIO
    file_name: str
    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    head: bytes = b""
    buffer: bytearray = field(default_factory=bytearray)
    media_type: str | None = None


class _Receiver:
    """Turns parser callbacks into one staged file and the `part` field value."""

    def __init__(self, store: BlobStore, resolve: PartResolver) -> None:
        self.store = store
        self.resolve = resolve
        self.cap = get_settings().max_upload_bytes
        self.events: list[tuple[str, bytes]] = []
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.current_name: str | None = None
        self.field_value = bytearray()
        self.part_key: str | None = None
        self.rule: PartRule | None = None
        self.file: _FilePart | None = None
        self.in_file = False
        self.file_done = False

    @property
    def limit(self) -> int:
        return min(self.rule.max_bytes, self.cap) if self.rule else self.cap

    def callbacks(self) -> dict[str, Any]:
        def data(name: str) -> Callable[[bytes, int, int], None]:
            return lambda buf, start, end: self.events.append((name, bytes(buf[start:end])))

        def mark(name: str) -> Callable[[], None]:
            return lambda: self.events.append((name, b""))

        return {"on_part_begin": mark("part_begin"), "on_header_field": data("header_field"),
                "on_header_value": data("header_value"), "on_header_end": mark("header_end"),
                "on_headers_finished": mark("headers_finished"), "on_part_data": data("part_data"),
                "on_part_end": mark("part_end")}

    async def handle_events(self) -> None:
        events, self.events = self.events, []
        for kind, payload in events:
            if kind == "part_begin":
                self.headers, self.header_field, self.header_value = {}, b"", b""
            elif kind == "header_field":
                self.header_field += payload
            elif kind == "header_value":
                self.header_value += payload
            elif kind == "header_end":
                self.headers[self.header_field.strip().lower()] = self.header_value.strip()
                self.header_field, self.header_value = b"", b""
            elif kind == "headers_finished":
                await self._start_part()
            elif kind == "part_data":
                await self._data(payload)
            elif kind == "part_end":
                await self._end_part()

    async def _start_part(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.current_name = options.get(b"name", b"").decode("utf-8", "replace")
        self.field_value = bytearray()
        if self.current_name == "file":
            if self.file is not None:
                raise validation_problem([{"loc": ["body", "file"], "msg": "send exactly one file"}])
            raw_name = options.get(b"filename", b"").decode("utf-8", "replace")
            path = self.store.staging_file()
            handle = await anyio.to_thread.run_sync(path.open, "xb")
            self.file = _FilePart(path=path, handle=handle, file_name=sanitise_file_name(raw_name))
            self.in_file = True

    async def _data(self, payload: bytes) -> None:
        if not self.in_file:
            self.field_value += payload
            if len(self.field_value) > FIELD_MAX_BYTES:
                raise validation_problem([{"loc": ["body", self.current_name or ""], "msg": "field too long"}])
            return
        upload = self.file
        assert upload is not None
        upload.size += len(payload)
        if upload.size > self.limit:
            raise too_large(self.limit)
        upload.digest.update(payload)
        if len(upload.head) < SNIFF_BYTES:
            upload.head += payload[: SNIFF_BYTES - len(upload.head)]
            if len(upload.head) >= SNIFF_BYTES:
                self._check_media_type()
        upload.buffer += payload
        if len(upload.buffer) >= FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        upload = self.file
        assert upload is not None
        if upload.buffer:
            chunk, upload.buffer = bytes(upload.buffer), bytearray()
            await anyio.to_thread.run_sync(upload.handle.write, chunk)

    def _check_media_type(self) -> None:
        upload = self.file
        assert upload is not None
        if upload.media_type is None:
            upload.media_type = sniff_media_type(upload.head)
        if self.rule is not None and self.rule.media_types and upload.media_type not in self.rule.media_types:
            raise media_type_refused(upload.media_type, self.rule.media_types)

    async def _end_part(self) -> None:
        if self.in_file:
            await self._finish_file()
            self.in_file = False
            self.file_done = True
        elif self.current_name == "part":
            self.part_key = self.field_value.decode("utf-8", "replace").strip()
            self.rule = self.resolve(self.part_key)
            if self.file is not None:  # file came first: apply the part's rules now
                if self.file.size > self.limit:
                    raise too_large(self.limit)
                if self.file_done:
                    self._check_media_type()

    async def _finish_file(self) -> None:
        upload = self.file
        assert upload is not None
        if upload.size == 0:
            raise validation_problem([{"loc": ["body", "file"], "msg": "the file is empty"}])
        await self._flush()

        def sync_and_close() -> None:
            upload.handle.flush()
            os.fsync(upload.handle.fileno())
            upload.handle.close()

        await anyio.to_thread.run_sync(sync_and_close)
        self._check_media_type()

    def discard(self) -> None:
        if self.file is not None:
            try:
                self.file.handle.close()
            finally:
                self.file.path.unlink(missing_ok=True)


def _feed(parser: MultipartParser, chunk: bytes | None) -> None:
    try:
        if chunk is None:
            parser.finalize()
        else:
            parser.write(chunk)
    except FormParserError as error:
        raise validation_problem([{"loc": ["body"], "msg": "malformed multipart body"}]) from error


async def receive_upload(request: Request, store: BlobStore, resolve: PartResolver) -> ReceivedUpload:
    """Read the multipart body into one staged file; the caller places it in the store or unlinks it."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise validation_problem([{"loc": ["body"], "msg": "expected multipart/form-data with a boundary"}])
    receiver = _Receiver(store, resolve)
    try:
        parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    except FormParserError as error:  # e.g. a boundary beyond RFC 2046's 70 characters (the parser takes 256)
        raise validation_problem([{"loc": ["body"], "msg": "malformed multipart boundary"}]) from error
    body_limit = receiver.cap + ENVELOPE_BYTES
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise too_large(receiver.limit)
            _feed(parser, chunk)
            await receiver.handle_events()
        _feed(parser, None)
        await receiver.handle_events()
        errors = []
        if receiver.part_key is None:
            errors.append({"loc": ["body", "part"], "msg": "field required"})
        if receiver.file is None or not receiver.file_done:
            errors.append({"loc": ["body", "file"], "msg": "field required"})
        if errors:
            raise validation_problem(errors)
    except BaseException:
        receiver.discard()
        raise
    upload = receiver.file
    assert upload is not None and receiver.part_key is not None and upload.media_type is not None
    return ReceivedUpload(part=receiver.part_key, file_name=name_for_content(upload.file_name, upload.media_type),
                          staged=upload.path, size=upload.size, sha256=upload.digest.hexdigest(),
                          media_type=upload.media_type)
