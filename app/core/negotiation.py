"""Content negotiation for the routes that answer more than JSON (notices and receipts as PDF, reports as CSV).

A substring test served a PDF to `Accept: application/pdf;q=0` ("anything but PDF") and JSON to a client
that accepts only images. The rule is RFC 9110 §12.5.1: each offered type takes the q of the most specific
range that matches it; the highest q wins, ties go to the order offered (JSON first); q=0 means "not this".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.core.problems import ProblemError

# RFC 9110 §12.4.2: 0 to 1 with at most three decimals. float() also read "nan" (a weight below and above every
# other: `application/pdf;q=nan` was a 406), "-1", "1e-3", "inf" and "1_0".
QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def _ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if "/" not in media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q" and QVALUE.fullmatch(value.strip()):
                q = float(value)  # a malformed weight is ignored, as if absent
        ranges.append((media.lower(), q))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, float]]) -> float:
    kind = media_type.split("/")[0] + "/*"
    for wanted in (media_type, kind, "*/*"):  # the most specific range decides
        weights = [q for media, q in ranges if media == wanted]
        if weights:
            return max(weights)
    return 0.0


# Every answer a route chose with `negotiate` carries this: one URL answers several formats, so a cache must key
# what it stores by the request's Accept (RFC 9110 §12.5.5), or it hands the PDF or CSV to a JSON client.
VARY_ACCEPT = {"Vary": "Accept"}


def negotiate(accept: str | None, offered: Sequence[str]) -> str:
    """The offered media type `accept` prefers; the first offered without a header (or with no usable range).
    406 `not_acceptable` when the header refuses every offered type."""
    ranges = _ranges(accept) if accept else []
    if not ranges:
        return offered[0]
    best = max(offered, key=lambda media: (_quality(media, ranges), -offered.index(media)))
    if _quality(best, ranges) <= 0:
        raise ProblemError("not_acceptable", f"This resource is available as {', '.join(offered)}.",
                           extra={"available": list(offered)})
    return best
