"""Content negotiation (RFC 9110 §12.5.1) for the routes that also answer PDF or CSV."""

from __future__ import annotations

import pytest

from app.core.negotiation import negotiate
from app.core.problems import ProblemError

OFFERED = ("application/json", "application/pdf")


@pytest.mark.parametrize(("accept", "chosen"), [
    (None, "application/json"),
    ("", "application/json"),
    ("*/*", "application/json"),
    ("application/pdf", "application/pdf"),
    ("APPLICATION/PDF", "application/pdf"),
    ("application/pdf;q=0, */*", "application/json"),  # "anything but PDF" (a substring test served the PDF)
    ("application/json;q=0.5, application/pdf", "application/pdf"),
    ("application/*;q=0.2, application/pdf;q=0.9", "application/pdf"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/json"),  # a browser
    ("application/pdf;q=abc", "application/pdf"),  # a malformed weight counts as absent
    ("application/pdf;q=nan", "application/pdf"),  # also one float() reads (NaN was below every weight: a 406)
    ("application/pdf;q=-1, application/json;q=0.5", "application/pdf"),
    ("application/pdf;q=0.5, application/json;q=1e-3", "application/json"),
    ("application/pdf;q=1.000, application/json;q=0.999", "application/pdf"),
    ("garbage", "application/json"),  # no usable range: as if there were no header
])
def test_the_preferred_offered_type_is_chosen(accept: str | None, chosen: str) -> None:
    assert negotiate(accept, OFFERED) == chosen


@pytest.mark.parametrize("accept", ["image/png", "application/pdf;q=0, application/json;q=0", "text/*"])
def test_a_header_refusing_every_offered_type_is_406(accept: str) -> None:
    with pytest.raises(ProblemError) as refused:
        negotiate(accept, OFFERED)
    assert refused.value.status == 406 and refused.value.code == "not_acceptable"
    assert refused.value.extra == {"available": list(OFFERED)}
