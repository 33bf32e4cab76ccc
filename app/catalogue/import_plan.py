"""How an import places each procedure entry among the procedure's versions (app.catalogue.importer).

The versions of one procedure are a timeline of slots: the stored non-draft versions, then those the document's
entries add, in document order. validate() plans every entry on a copy of the timeline to find errors; apply()
plans again, in the same transaction, and writes what the plan says, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from app.catalogue import schemas
from app.catalogue.models import ProcedureVersion, VersionStatus
from app.catalogue.service import field_error
from app.catalogue.versions import content_of


def repeated_codes(entries: list[schemas.ImportProcedure]) -> list[dict[str, Any]]:
    """A procedure may come back, for a later validity: each of its entries after the first needs a valid_from
    after the previous entry's (an export lists the version in force, then the scheduled ones)."""
    previous: dict[str, schemas.ImportProcedure] = {}
    errors = []
    for i, entry in enumerate(entries):
        before = previous.get(entry.code)
        if before is not None and (before.valid_from is None or entry.valid_from is None
                                   or entry.valid_from <= before.valid_from):
            errors.append(field_error(["body", "procedures", i, "code"], (
                f"code {entry.code!r} appears again without a valid_from after its previous entry's")))
        previous[entry.code] = entry
    return errors


@dataclass
class Slot:
    """A non-draft version of one procedure as the import leaves it: a stored one, or one an entry adds."""

    label: str
    content: dict[str, Any]
    valid_from: datetime | None
    valid_to: datetime | None
    published: bool
    row: ProcedureVersion | None = None


@dataclass(frozen=True)
class Step:
    """What an entry does: nothing, end the published version at `end`, or publish from `start` (until `end`)."""

    action: Literal["unchanged", "retire", "publish"]
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Refused:
    field: str
    msg: str


def timelines_for(entries: list[schemas.ImportProcedure], versions: dict[str, list[ProcedureVersion]],
                  ) -> dict[str, list[Slot]]:
    """The timeline of each procedure the entries name, from its stored non-draft versions."""
    return {code: [Slot(f"version {v.version}", content_of(v), v.valid_from, v.valid_to,
                        v.status == VersionStatus.published, v) for v in versions.get(code, [])]
            for code in {entry.code for entry in entries}}


def published_slot(timeline: list[Slot]) -> Slot | None:
    return next((s for s in timeline if s.published), None)


def entry_ends(entries: list[schemas.ImportProcedure]) -> list[datetime | None]:
    """Where each entry's validity ends: its valid_to, else where the procedure's next entry takes over."""
    ends: list[datetime | None] = [entry.valid_to for entry in entries]
    following: dict[str, schemas.ImportProcedure] = {}
    for i in reversed(range(len(entries))):
        entry = entries[i]
        if ends[i] is None and entry.code in following:
            ends[i] = following[entry.code].valid_from
        following[entry.code] = entry
    return ends


def plan(timeline: list[Slot], content: dict[str, Any], entry: schemas.ImportProcedure, until: datetime | None,
          now: datetime) -> Step | Refused:
    """The step for one entry (in force `until`, see entry_ends) against the procedure's versions so far; validate()
    and apply() both ask here."""
    current, end = published_slot(timeline), entry.valid_to
    if entry.valid_from is not None and any(s.content == content and s.valid_from == entry.valid_from
                                            and s.valid_to == until for s in timeline):
        return Step("unchanged")  # this very validity is recorded: the file was exported here or imported already
    if current is not None and current.content == content:
        if end is None:
            return Step("unchanged")
        if current.valid_from is not None and end <= current.valid_from:
            return Refused("valid_to", f"must be after the valid_from of {current.label}")
        return Step("retire", end=end)
    start = entry.valid_from or now
    if end is not None and end <= start:
        return Refused("valid_to", "must be after valid_from")
    for other in timeline:
        # A new validity must start after everything already in force, or two versions would overlap.
        if (other is current and other.valid_from is not None and other.valid_from >= start) or (
                other is not current and other.valid_to is not None and other.valid_to > start):
            return Refused("valid_from", f"overlaps the validity of {other.label}")
    return Step("publish", start, end)


def advance(timeline: list[Slot], step: Step, content: dict[str, Any], label: str) -> Slot | None:
    """Record `step` in the timeline; the new slot of a publication (its row is set by whoever writes it)."""
    current = published_slot(timeline)
    if step.action == "unchanged":
        return None
    if current is not None:
        current.published = False
        current.valid_to = step.end if step.action == "retire" else step.start
    if step.action == "retire":
        return None
    slot = Slot(label, content, step.start, step.end, published=step.end is None)
    timeline.append(slot)
    return slot
