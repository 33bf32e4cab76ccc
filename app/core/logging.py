"""Structured JSON logs, one object per line, each with the request id."""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
from datetime import UTC, datetime
from typing import Any

from app.core.request_context import current_request_id

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
ACCESS_LOGGER = "app.access"
_access = logging.getLogger(ACCESS_LOGGER)  # looked up once: getLogger takes the logging module's lock

_dumps = json.JSONEncoder(ensure_ascii=False).encode  # what json.dumps(..., ensure_ascii=False) calls for a str


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": current_request_id(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class JsonStreamHandler(logging.StreamHandler):
    """The handler configure_logging installs; the access line knows how to write for it directly."""


def access_line(request_id: str, method: str, route: str, path: str, status: int, duration_ms: float) -> None:
    """One access line per request, the same JSON object `log.info("request", extra=...)` would write.

    It is on every request, and the logging module's record, handler walk and generic formatter were ~15% of a
    light route's throughput under load (bench/PROFILE.md, session 13). When the set-up is the one
    configure_logging installs (the access logger enabled for INFO, no filters, the JSON handler the only one on
    the root logger), the line is formatted by hand and written under the handler's lock; any other set-up (a
    test's capturing handler, a deployment's own logging configuration) gets the ordinary call.
    """
    handler = _direct_handler(_access)
    if handler is None:
        if _access.isEnabledFor(logging.INFO):
            _access.info("request", extra={"method": method, "route": route, "path": path, "status": status,
                                           "duration_ms": duration_ms})
        return
    line = (f'{{"ts": "{datetime.now(UTC).isoformat()}", "level": "INFO", "logger": "{ACCESS_LOGGER}", '
            f'"msg": "request", "request_id": {_dumps(request_id)}, "method": {_dumps(method)}, '
            f'"route": {_dumps(route)}, "path": {_dumps(path)}, "status": {status}, '
            f'"duration_ms": {duration_ms!r}}}{handler.terminator}')
    _batch.add(handler, line)


def _write(handler: logging.StreamHandler[Any], text: str) -> None:
    handler.acquire()
    try:
        handler.stream.write(text)
        handler.flush()
    except Exception:  # as StreamHandler.emit: a logging failure must not fail the request
        handler.handleError(logging.makeLogRecord({"msg": text}))
    finally:
        handler.release()


class _AccessBatch:
    """Access lines written together, at most `interval_s` after the first of them (nginx's `access_log ...
    flush=`): one write system call per batch instead of one per request (the largest single item in a profile of
    public tracking against its bare anchor; bench/PROFILE.md, session 15). Lines of other loggers are written
    at once, so within the interval an access line may follow a later line; each carries its time. The batch is
    written when the server stops (lifespan end, process exit) and when logging is configured anew."""

    MAX_LINES = 512  # a burst is written when it reaches this, not held in memory for the whole interval

    def __init__(self) -> None:
        self.interval_s = 0.0
        self.lines: list[str] = []
        self.handler: logging.StreamHandler[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def add(self, handler: logging.StreamHandler[Any], line: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self.interval_s <= 0 or loop is None:
            _write(handler, line)
            return
        if handler is not self.handler or loop is not self.loop:
            self.flush()  # (another handler, or a timer on a loop that may be gone: a test's loop)
        self.lines.append(line)
        self.handler = handler
        if len(self.lines) >= self.MAX_LINES:
            self.flush()
        elif self.timer is None:
            self.loop = loop
            self.timer = loop.call_later(self.interval_s, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop = None
        lines, self.lines = self.lines, []
        if lines and self.handler is not None:
            _write(self.handler, "".join(lines))


_batch = _AccessBatch()
atexit.register(_batch.flush)


def flush_access_lines() -> None:
    """Write the access lines waiting in the batch (the server is stopping)."""
    _batch.flush()


def _direct_handler(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """The installed JSON handler when it alone would write the access line, unfiltered; else None."""
    root = logging.root
    if (logger.disabled or logger.filters or logger.handlers or not logger.propagate or root.filters
            or len(root.handlers) != 1 or not logger.isEnabledFor(logging.INFO)):
        return None
    handler = root.handlers[0]
    if type(handler) is not JsonStreamHandler or handler.filters or handler.level > logging.INFO:
        return None
    return handler


def configure_logging(level: str, *, access_flush_ms: int = 0) -> None:
    """JSON lines on stderr at `level`; access lines written in batches at most `access_flush_ms` apart (0: each
    at once)."""
    _batch.flush()
    _batch.interval_s = access_flush_ms / 1000
    # The lines carry none of these, and collecting them is most of a record's cost: the caller's file and line
    # (a stack walk), thread, process and task (logging HOWTO, "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = JsonStreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    # fontTools logs some twenty INFO lines ("glyf pruned", ...) each time fpdf2 subsets the font of a notice,
    # receipt or result PDF: its own bookkeeping, not an event of ours. Its warnings still show.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
