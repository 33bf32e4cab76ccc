"""Times inside JSON documents (history details, event payloads) are written as the API writes times: UTC, `Z`.

API-CONVENTIONS: RFC 3339 with offset, stored UTC, `Z` on output. Response models format their own fields; the
values inside a history entry's `details` and an outbox event's payload (webhook `data`) were `+00:00`."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select

from app.core.db import get_database
from app.core.outbox import OutboxEvent

UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _times(document: Any) -> list[str]:
    """Every string value that looks like a date-time, at any depth."""
    if isinstance(document, dict):
        return [t for value in document.values() for t in _times(value)]
    if isinstance(document, list):
        return [t for value in document for t in _times(value)]
    return [document] if isinstance(document, str) and re.match(r"^\d{4}-\d\d-\d\dT", document) else []


async def test_history_details_and_event_payloads_write_times_with_z(flow: Any) -> None:
    code = await flow.procedure(processing_days=3)
    _, dossier = await flow.submitted(code)
    await flow.to_processing(dossier["id"])
    history = await flow.client.get(f"/v1/dossiers/{dossier['id']}/history", headers=flow.processing.headers)
    assert history.status_code == 200, history.text
    detail_times = _times([entry["details"] for entry in history.json()["items"]])
    assert detail_times and all(UTC_Z.match(t) for t in detail_times), detail_times
    async with get_database().read_sessions() as session:
        payloads = (await session.execute(select(OutboxEvent.payload).where(
            OutboxEvent.aggregate_id == uuid.UUID(dossier["id"])))).scalars().all()
    event_times = _times(list(payloads))
    assert event_times and all(UTC_Z.match(t) for t in event_times), event_times
    verified = await flow.client.get(f"/v1/dossiers/{dossier['id']}/history/verify", headers=flow.processing.headers)
    assert verified.status_code == 200 and verified.json()["valid"], verified.text
