"""How an import places each procedure entry among the procedure's versions (app.catalogue.importer).

The versions of one procedure are a timeline of slots: the stored non-draft versions, then those the document's
entries add, in document order. validate() plans every entry on a copy of the timeline to find errors; apply()
plans again, in the same transaction, and writes what the plan says, so the two cannot disagree. Both go through
one DocumentPlan, which also makes the last check: each recorded version an entry names must end where the
document ends it (an end moves only with the start of the version that takes over).

An entry whose content equals a recorded version names that version (see named_slot) instead of publishing it
again. Its valid_from then either repeats the version's start, is left out, or moves a version not yet in force
to another future start (its predecessor ending there, as a publication ends it); the start of a version in force
is history and never moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from app.catalogue import schemas
from app.catalogue.content import content_of
from app.catalogue.models import ProcedureVersion, VersionStatus
from app.catalogue.service import field_error
from app.core.clock import utc_text


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


@dataclass(eq=False)  # compared by identity: two versions may say the same thing over the same dates
class Slot:
    """A non-draft version of one procedure as the import leaves it: a stored one, or one an entry adds."""

    label: str
    content: dict[str, Any]
    valid_from: datetime | None
    valid_to: datetime | None
    published: bool
    row: ProcedureVersion | None = None
    named: bool = False  # an entry of the document names it: no other entry may


@dataclass(frozen=True)
class Step:
    """What an entry does: nothing, end the published version at `end`, move the start of a version not yet in
    force to `start` (and end it at `end`), or publish from `start` (until `end`). `slot` is the recorded version
    the entry names (all but a publication)."""

    action: Literal["unchanged", "retire", "reschedule", "publish"]
    start: datetime | None = None
    end: datetime | None = None
    slot: Slot | None = None


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


def taken_over(timeline: list[Slot], slot: Slot) -> Slot | None:
    """The version `slot` takes over from: the one ending where it starts (a publication ends its predecessor
    there), which a new start of `slot` must end at instead."""
    if slot.valid_from is None:
        return None
    return next((s for s in timeline if s is not slot and s.valid_to == slot.valid_from), None)


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


def _in_force(slot: Slot, now: datetime) -> bool:
    """Started already (an undated version counts as started: nothing says it has not)."""
    return slot.valid_from is None or slot.valid_from <= now


def named_slot(timeline: list[Slot], content: dict[str, Any], start: datetime | None, now: datetime,
               ) -> Slot | None:
    """The recorded version an entry with this content and valid_from names, if any: the one starting then, else
    the published one, else one not ended yet (scheduled first, then the one in force) that the entry's start
    does not come after the end of (a start after it is a return of that content: a new publication)."""
    free = [s for s in timeline if not s.named and s.content == content]
    same_start = next((s for s in free if start is not None and s.valid_from == start), None)
    current = published_slot(timeline)
    if same_start is not None or current in free:
        return same_start or current
    before_end = [s for s in free if start is None or s.valid_to is None or start < s.valid_to]
    scheduled = [s for s in before_end if not _in_force(s, now)]
    in_force = [s for s in before_end if _in_force(s, now) and (s.valid_to is None or s.valid_to > now)]
    return next(iter(scheduled + in_force), None)


def plan(timeline: list[Slot], content: dict[str, Any], entry: schemas.ImportProcedure, until: datetime | None,
         now: datetime) -> Step | Refused:
    """The step for one entry (in force `until`, see entry_ends) against the procedure's versions so far; validate()
    and apply() both ask here (through DocumentPlan)."""
    exact = next((s for s in timeline if not s.named and entry.valid_from is not None and s.content == content
                  and s.valid_from == entry.valid_from and s.valid_to == until), None)
    if exact is not None:
        return Step("unchanged", slot=exact)  # this very validity is recorded: exported here or imported already
    named = named_slot(timeline, content, entry.valid_from, now)
    if named is not None:
        return _keep(timeline, named, entry, now)
    start, end = entry.valid_from or now, entry.valid_to
    if end is not None and end <= start:
        return Refused("valid_to", "must be after valid_from")
    current = published_slot(timeline)
    for other in timeline:
        # A new validity must start after everything already in force, or two versions would overlap.
        if (other is current and other.valid_from is not None and other.valid_from >= start) or (
                other is not current and other.valid_to is not None and other.valid_to > start):
            return Refused("valid_from", f"overlaps the validity of {other.label}")
    return Step("publish", start, end)


def _keep(timeline: list[Slot], named: Slot, entry: schemas.ImportProcedure, now: datetime) -> Step | Refused:
    """The step for an entry naming a recorded version: a valid_to ends the published version (a retirement);
    another valid_from moves a version not yet in force (a rescheduling); the start of one in force is history."""
    start, end = entry.valid_from, entry.valid_to if named.published else None
    if start is None or start == named.valid_from:
        if end is None:
            return Step("unchanged", slot=named)
        if named.valid_from is not None and end <= named.valid_from:
            return Refused("valid_to", f"must be after the valid_from of {named.label}")
        return Step("retire", end=end, slot=named)
    if _in_force(named, now):
        since = f"since {utc_text(named.valid_from)}" if named.valid_from is not None else "without a valid_from"
        return Refused("valid_from", f"{named.label}, with this content, is in force {since}: the start of a "
                       "version in force cannot move (repeat its valid_from, or leave valid_from out)")
    if start <= now:
        return Refused("valid_from", f"{named.label}, with this content, is scheduled from "
                       f"{utc_text(named.valid_from)}: it can move only to a later moment than now")
    ends_at = end if named.published else named.valid_to
    if ends_at is not None and ends_at <= start:
        return Refused("valid_to", "must be after valid_from")
    before = taken_over(timeline, named)
    if before is not None and before.valid_from is not None and start <= before.valid_from:
        return Refused("valid_from", f"must be after the valid_from of {before.label}, which stays in force until "
                       f"{named.label} takes over")
    for other in timeline:
        if other is named or other is before:
            continue
        if (other.valid_to is None or start < other.valid_to) and (
                ends_at is None or other.valid_from is None or other.valid_from < ends_at):
            return Refused("valid_from", f"overlaps the validity of {other.label}")
    return Step("reschedule", start, end, slot=named)


def advance(timeline: list[Slot], step: Step, content: dict[str, Any], label: str) -> Slot:
    """Record `step` in the timeline; the slot the entry now names (a publication's is new: its row is set by
    whoever writes it)."""
    if step.slot is not None:
        step.slot.named = True
    if step.action == "unchanged":
        assert step.slot is not None
        return step.slot
    if step.action == "reschedule":
        assert step.slot is not None and step.start is not None
        before = taken_over(timeline, step.slot)
        if before is not None:
            before.valid_to = step.start
        step.slot.valid_from = step.start
        if step.end is not None:
            step.slot.published, step.slot.valid_to = False, step.end
        return step.slot
    current = published_slot(timeline)
    if current is not None:
        current.published = False
        current.valid_to = step.end if step.action == "retire" else step.start
    if step.action == "retire":
        assert current is not None  # a retire step always names the published version
        return current
    slot = Slot(label, content, step.start, step.end, published=step.end is None, named=True)
    timeline.append(slot)
    return slot


def _end_problem(timeline: list[Slot], slot: Slot, until: datetime | None) -> str:
    """Why a version an entry names does not end where the document ends it."""
    following = next((s for s in timeline if s is not slot and s.valid_from == slot.valid_to), None)
    recorded = "has no end" if slot.valid_to is None else f"ends at {utc_text(slot.valid_to)}"
    if following is not None:
        recorded += f", when {following.label} takes over"
    wanted = "has no end" if until is None else f"ends at {utc_text(until)}"
    return (f"{slot.label}, with this content, {recorded}, but this entry {wanted}: a recorded end moves only with "
            "the start of the version taking over (listed as the procedure's next entry, not yet in force)")


@dataclass
class DocumentPlan:
    """The procedure entries of one document placed on their procedures' timelines, in document order."""

    entries: list[schemas.ImportProcedure]
    timelines: dict[str, list[Slot]]
    now: datetime
    ends: list[datetime | None] = field(init=False)
    _named: list[tuple[int, Slot]] = field(default_factory=list, init=False)
    _unsettled: set[str] = field(default_factory=set, init=False)  # codes with an entry not placed

    def __post_init__(self) -> None:
        self.ends = entry_ends(self.entries)

    @classmethod
    def of(cls, entries: list[schemas.ImportProcedure], versions: dict[str, list[ProcedureVersion]],
           now: datetime) -> DocumentPlan:
        return cls(entries, timelines_for(entries, versions), now)

    def timeline(self, index: int) -> list[Slot]:
        return self.timelines[self.entries[index].code]

    def plan(self, index: int, content: dict[str, Any]) -> Step | Refused:
        """The step of entry `index`; a refused entry leaves its procedure's ends unchecked (its error says why)."""
        step = plan(self.timeline(index), content, self.entries[index], self.ends[index], self.now)
        if isinstance(step, Refused):
            self.skip(index)
        return step

    def skip(self, index: int) -> None:
        """Leave entry `index` unplaced (its validity is refused for another reason)."""
        self._unsettled.add(self.entries[index].code)

    def advance(self, index: int, step: Step, content: dict[str, Any]) -> Slot:
        slot = advance(self.timeline(index), step, content, entry_label(index))
        if step.action != "publish":  # a publication's end is set by the next entry's (or is its valid_to)
            self._named.append((index, slot))
        return slot

    def unmet_ends(self) -> list[tuple[int, Refused]]:
        """The entries naming a recorded version that, once every entry is placed, does not end where the entry
        ends: the document left out the version taking over from it, or would change an end already set."""
        return [(i, Refused("valid_to", _end_problem(self.timeline(i), slot, self.ends[i])))
                for i, slot in self._named
                if self.entries[i].code not in self._unsettled and slot.valid_to != self.ends[i]]


def entry_label(index: int) -> str:
    return f"the entry at /procedures/{index}"
