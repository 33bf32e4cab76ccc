"""The sample catalogue (Hà Tĩnh Department of Science and Technology), loaded by `dvc seed` / `make run`."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from app.catalogue.importer import import_document
from app.catalogue.schemas import ImportSummary
from app.core.db import get_database


def sample_document() -> dict[str, Any]:
    """The sample in the import format; it ships inside the package so it works without ../shared."""
    text = resources.files("app.catalogue").joinpath("data/sample-catalogue.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def describe(summary: ImportSummary) -> str:
    retired = f"versions retired {summary.versions_retired}, " if summary.versions_retired else ""
    moved = f"versions rescheduled {summary.versions_rescheduled}, " if summary.versions_rescheduled else ""
    return (f"agencies +{summary.agencies_created}/~{summary.agencies_updated}, "
            f"fields +{summary.fields_created}/~{summary.fields_updated}, "
            f"procedures +{summary.procedures_created}, versions published {summary.versions_published}, "
            f"{retired}{moved}unchanged {summary.unchanged}")


async def load_sample() -> str:
    """Import the sample (idempotent: a second run changes nothing) and say what happened, in one line."""
    async with get_database().write_sessions() as session, session.begin():
        summary = await import_document(session, None, sample_document())
    return f"sample catalogue: {describe(summary)}"
