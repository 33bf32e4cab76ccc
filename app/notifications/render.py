"""Rendering a message from its template: subject, plain text, HTML and the short form (SMS, Zalo).

One template per event and language (`templates/<lang>/<kind>.txt.j2`) with the blocks `subject`, `content`
and `short`; `_frame.txt.j2` wraps the content with the greeting and the footer (`_account_frame.txt.j2` for messages
about an account rather than a dossier, `_staff_frame.txt.j2` for messages to officials). The HTML body is the same text
laid out by `layout.html.j2`, which is autoescaped: officials' free text (reasons, items) and the applicant's
name can never inject markup into an email.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("vi", "en")
KINDS = ("submitted", "received", "supplement_requested", "payment_requested", "payment_received",
         "payment_refunded", "payment_cancelled", "payment_failed", "apology", "refused", "stopped", "withdrawn",
         "result_ready", "returned", "complaint_answered")
# Messages about an account, not a dossier (app.notifications.accounts): framed without a dossier's code.
ACCOUNT_KINDS = ("mandate_given", "mandate_changed", "mandate_withdrawn", "mandate_expiring", "mandate_ending",
                 "mandate_started")
# Messages to officials (app.notifications.staff): framed for the agency's staff.
STAFF_KINDS = ("complaint_filed",)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    short: str


@lru_cache
def environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, trim_blocks=True,
                       lstrip_blocks=True, autoescape=select_autoescape(enabled_extensions=("html.j2",),
                                                                        default_for_string=True, default=False))


def _block(template: Template, name: str, context: dict[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(context)))


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _html_blocks(text: str) -> list[dict[str, list[str]]]:
    blocks = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.splitlines()
        if lines and all(line.startswith("- ") for line in lines):
            blocks.append({"entries": [line[2:] for line in lines], "lines": []})
        else:
            blocks.append({"entries": [], "lines": lines})
    return blocks


def render(kind: str, language: str, context: dict[str, Any]) -> Rendered:
    language = language if language in LANGUAGES else "vi"
    env = environment()
    template = env.get_template(f"{language}/{kind}.txt.j2")
    subject = _one_line(_block(template, "subject", context))
    content = _tidy(_block(template, "content", context))
    frame = "_account_frame" if kind in ACCOUNT_KINDS else "_staff_frame" if kind in STAFF_KINDS else "_frame"
    text = _tidy(env.get_template(f"{language}/{frame}.txt.j2").render({**context, "content": content}))
    html = env.get_template("layout.html.j2").render(lang=language, subject=subject, blocks=_html_blocks(text))
    return Rendered(subject=subject, text=text, html=html, short=_one_line(_block(template, "short", context)))
