"""The public late list (UBND 442/2023 §2, Resolution 131/NQ-CP): who processed dossiers late.

Measured at the end of the period asked for (`cut`: the midnight after its last day, or now while the period
runs; answered as `open_counted_at`). A published list for a past period is a record of that period, like the
monthly indicators whose open dossiers are counted when the period ended (app.reporting.figures): its reader
expects the dossiers that were overdue and unfinished when it ended, not those overdue today. Measured now, a
March list read in May counted as "still overdue in March" a dossier that only fell due in April, dropped one
that was overdue at the end of March and finished since, and changed every time it was read. So a dossier
counts as open at `cut` when received before it and not finished by it (finished since, or not at all), and as
overdue at `cut` when it had fallen behind its ORIGINAL due date by then (`late_since`: a supplement wait that
began after the due date moves the date out when it ends, not the lateness). The dossier's row says how it is
now; a dossier waiting on a supplement at `cut` and answered since (its row no longer waiting, perhaps received
anew with a restarted clock) is judged instead by its history replayed to `cut` (app.reporting.asof, `Replayed`):
asked before its original due date, it was not open for the agency then (the wait is the applicant's); asked
after it, it was open and overdue, whatever its reception and due dates are now. So is one whose clock a
supplement asked after `cut` restarted (its row received after `cut`), finished since or still open: by its row
it left the period's list and its `handled`.

What remains approximate:
- (officials only) the step under way at `cut` is judged against its deadline as kept now: the first step
  completed after `cut` by its slip's deadline, else the step under way now by the progress row's. A clock
  restarted since (on a supplement) gave that step a new start and deadline, so a step that had overrun by
  `cut` is no longer seen to have: the late dossier is counted for the agency, under `in_progress` for its
  holder when the step has no allowance, and for no official when it has one. (The slip does not keep a step's
  deadline as it was before a restart; keeping it needs a column, or rebuilding it from the calendar and the
  slip's earlier steps.)
- (rare) for a dossier judged from its history, a supplement wait that ended after an apology moves its
  original due date by as long as it moved the apology's date (app.reporting.asof: the entry records only the
  latter); the two differ only when one crosses a holiday the other does not, and only a later wait, asked
  near that date, can be judged late or in time wrongly by it.

Per agency: dossiers handled (finished in the period + open at `cut`), finished late (after the ORIGINAL due
date: an apology's new date does not excuse it), still overdue at `cut`, the share late, and how many late
ones received an apology (form 04) by then. A dossier waiting on a supplement requested after its original
due date had passed counts as open and still overdue, exactly like one whose clock runs
(app.workflow.progress.lateness_counts: the wait does not hide lateness that came before it); one asked
before its due date is left out while it waits, as the wait is the applicant's. The agency figures come from
the counters and the small set of open dossiers. A withdrawn dossier is neither finished nor open (as in the
indicators): withdrawn within the period (or while it runs) it leaves the list, even if it was overdue.
Withdrawn after a past period ended, it is judged in that period by its history replayed to `cut` (`Replayed`),
like a wait answered since: open and overdue then, it stays listed (and counted handled, open within its time).
Reception may withdraw a desk or postal dossier on the applicant's written request (`withdraw_on_request`);
judged by today's state, that erased a late dossier from a list already published.

Per official (name and agency only, public by the province's instruction), lateness goes to the official and
step where it happened (the process control slip, app.workflow.steps):
- each completed step (by `cut`) that overran its allowance, to whoever held it (completed it);
- for a dossier overdue at `cut`, the step under way then: the first step completed after `cut` (its holder
  and deadline are on the slip), or, if none has been since, the step under way now (its holder is the
  official the dossier is assigned to, its deadline kept on the progress row; while a supplement is awaited
  it is judged at the start of the wait). Its holder is blamed under the step's name when it had overrun
  its allowance by `cut`; when the step has no allowance (or none is known), under `in_progress`: they hold
  an overdue dossier and nothing says whose delay it is; when it is still within its allowance, not at all:
  the lateness happened before it reached them.
A late dossier with no such step and holder is counted for the agency only. An official's `handled` is the
dossiers they completed a step of in the period, plus the open ones whose step under way at `cut` they held
(those the agency counts as open), plus the late dossiers attributed to them (a step of theirs may have
overrun before the period, on a dossier finished late in it): every dossier counted late for an official is
also counted handled by them, so 0 <= late <= handled and their `late_share` is at most 1.
No applicant data is read.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, null, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue.models import Agency
from app.core import clock
from app.core.pagination import decode_cursor, encode_cursor
from app.dossiers.models import Dossier
from app.identity.models import Account
from app.reporting.asof import dossiers_at
from app.reporting.figures import local_midnight
from app.reporting.models import ReportingCounter
from app.reporting.schemas import LateAgency, LateList, LateOfficial
from app.workflow.models import DossierProgress, HistoryEntry, Notice, StepRecord
from app.workflow.progress import CLOCK_PAUSED_STATE, FINISHED_STATES, fell_behind_at, lateness_counts, original_due

WITHDRAWN = "withdrawn"  # neither finished nor open: off the list, of a past period only if withdrawn in it
IN_PROGRESS = "in_progress"


@dataclass(frozen=True)
class Window:
    start: date
    end: date  # inclusive
    agencies: frozenset[str] | None

    @property
    def since(self) -> datetime:
        return local_midnight(self.start)

    @property
    def until(self) -> datetime:
        return local_midnight(self.end + timedelta(days=1))

    def cut(self, now: datetime) -> datetime:
        """The moment open dossiers are measured at (UTC): the end of the period, or now while it runs."""
        return min(self.until, now).astimezone(UTC)


def _apologised(dossier_id: Any, cut: datetime) -> Any:
    return exists().where(Notice.dossier_id == dossier_id, Notice.kind == "apology", Notice.issued_at <= cut)


@dataclass(frozen=True)
class Replayed:
    """Dossiers of a period that is over whose row cannot say what they were at `cut`, judged from their history
    replayed to it (app.reporting.asof): those waiting on a supplement then and answered since, and those
    withdrawn since. Every one of them is in exactly one set."""

    excused: frozenset[uuid.UUID] = frozenset()  # not open for the agency at `cut` (e.g. waiting, asked in time)
    late: frozenset[uuid.UUID] = frozenset()  # open at `cut` with its lateness counting, and overdue then
    on_time: frozenset[uuid.UUID] = frozenset()  # open at `cut` with its lateness counting, within its time

    @property
    def open(self) -> frozenset[uuid.UUID]:
        return self.late | self.on_time

    @property
    def judged(self) -> frozenset[uuid.UUID]:
        return self.excused | self.late | self.on_time


def _ids(ids: frozenset[uuid.UUID]) -> list[uuid.UUID]:
    return sorted(ids)


def _overdue_at(cut: datetime, replayed: Replayed) -> Any:
    """Behind its original due date at `cut` (app.workflow.progress.fell_behind_at: when it fell behind, kept
    across a later supplement wait), by its row or, for the replayed dossiers, by its history."""
    by_row = (fell_behind_at() < cut) & Dossier.id.not_in(_ids(replayed.judged))
    return by_row | Dossier.id.in_(_ids(replayed.late))


def _open_at(window: Window, cut: datetime, replayed: Replayed) -> Any:
    """Open at `cut` with its lateness counting: received in or before the period and not finished by `cut` (a
    dossier withdrawn by then is neither finished nor open); its clock running, paused on a dossier already late,
    or paused only since `cut`. A replayed dossier (waiting at `cut` and answered since, or withdrawn since) is
    open then as its history says, whatever its row says now."""
    still_open = Dossier.finished_at.is_(None) & (
        lateness_counts(original_due())
        | ((Dossier.state == CLOCK_PAUSED_STATE) & (DossierProgress.paused_at > cut)))
    finished_since = Dossier.state.in_(FINISHED_STATES) & (Dossier.finished_at > cut)
    judged_by_row = ((Dossier.received_at < window.until) & (still_open | finished_since)
                     & Dossier.id.not_in(_ids(replayed.judged)))
    return judged_by_row | Dossier.id.in_(_ids(replayed.open))


async def _replayed_at(session: AsyncSession, window: Window, cut: datetime) -> Replayed:
    """The dossiers (of the window's agencies) not finished by `cut` whose row cannot be trusted for it, replayed
    to `cut`: those whose last history entry before it left them waiting on a supplement and that changed since
    (a wait asked before the original due date excuses them, one asked after it leaves them late), those filed
    before it and received since (a clock restarted on a supplement asked after `cut`: the row's reception and
    due date are the restart's, finished since or not), and those withdrawn since (UBND 442 §2: a period's
    published list must not lose a dossier late in it because an official withdrew it on request afterwards; it
    is judged as it was then, open or not, late or not). Only a period that is over has any; one withdrawn by
    `cut` is neither finished nor open, as its row says."""
    last_before = (select(HistoryEntry.to_state).where(HistoryEntry.dossier_id == Dossier.id, HistoryEntry.at < cut)
                   .order_by(HistoryEntry.seq.desc()).limit(1).scalar_subquery())
    changed_since = exists().where(HistoryEntry.dossier_id == Dossier.id, HistoryEntry.at >= cut)
    waited = changed_since & (last_before == CLOCK_PAUSED_STATE)
    withdrawn_since = (Dossier.state == WITHDRAWN) & (Dossier.finished_at > cut)
    # Filed before `cut` but received since: first received after it (its history says not open), or its clock
    # restarted since on a supplement asked after `cut` (its row's reception and due date are the restart's).
    received_since = Dossier.received_at >= cut
    rows = (await session.execute(
        select(Dossier.id, original_due().label("original_due"))
        .outerjoin(DossierProgress, DossierProgress.dossier_id == Dossier.id)
        .where(Dossier.submitted_at < cut, or_(Dossier.finished_at.is_(None), Dossier.finished_at > cut),
               or_(withdrawn_since, received_since, waited), *_in_scope(Dossier.agency_code, window)))).all()
    if not rows:
        return Replayed()
    then = await dossiers_at(session, [row.id for row in rows], cut)
    late: set[uuid.UUID] = set()
    on_time: set[uuid.UUID] = set()
    for row in rows:
        asof = then.get(row.id)
        if asof is None or not asof.counts():
            continue
        asof.original_due_at = asof.original_due_at or row.original_due  # entries older than their details
        (late if asof.overdue(cut) else on_time).add(row.id)
    judged_open = late | on_time
    return Replayed(excused=frozenset(row.id for row in rows if row.id not in judged_open),
                    late=frozenset(late), on_time=frozenset(on_time))


def _in_scope(column: Any, window: Window) -> list[Any]:
    return [] if window.agencies is None else [column.in_(sorted(window.agencies))]


async def _agency_counts(session: AsyncSession, window: Window, cut: datetime,
                         replayed: Replayed) -> dict[str, dict[str, int]]:
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    finished = (select(ReportingCounter.agency_code, func.sum(ReportingCounter.finished).label("finished"),
                       func.sum(ReportingCounter.finished_late).label("late"),
                       func.sum(ReportingCounter.finished_late_apologised).label("apologised"))
                .where(ReportingCounter.day >= window.start, ReportingCounter.day <= window.end,
                       *_in_scope(ReportingCounter.agency_code, window))
                .group_by(ReportingCounter.agency_code))
    for code, n, late, apologised in (await session.execute(finished)).all():
        rows[code].update(handled=int(n or 0), finished_late=int(late or 0), apologised=int(apologised or 0))
    overdue = _overdue_at(cut, replayed)
    open_ = (select(Dossier.agency_code, func.count().label("n"), func.sum(case((overdue, 1), else_=0)),
                    func.sum(case((and_(overdue, _apologised(Dossier.id, cut)), 1), else_=0)))
             .select_from(Dossier).outerjoin(DossierProgress, DossierProgress.dossier_id == Dossier.id)
             .where(_open_at(window, cut, replayed), *_in_scope(Dossier.agency_code, window))
             .group_by(Dossier.agency_code))
    for code, n, late, apologised in (await session.execute(open_)).all():
        row = rows[code]
        row["handled"] += int(n or 0)
        row["still_overdue"] = int(late or 0)
        row["apologised"] += int(apologised or 0)
    return {code: dict(row) for code, row in rows.items() if row.get("handled")}


def _late_dossiers(window: Window, agencies: list[str], cut: datetime, replayed: Replayed) -> Any:
    """(dossier id) of dossiers finished late in the window or open and overdue at `cut`, of these agencies."""
    base = select(Dossier.id.label("dossier_id")).select_from(Dossier).outerjoin(
        DossierProgress, DossierProgress.dossier_id == Dossier.id).where(Dossier.agency_code.in_(agencies))
    finished_late = base.where(Dossier.state.in_(FINISHED_STATES), Dossier.received_at.is_not(None),
                               Dossier.finished_at >= window.since, Dossier.finished_at < window.until,
                               Dossier.finished_at > original_due())
    overdue = base.where(_open_at(window, cut, replayed), _overdue_at(cut, replayed))
    return union_all(finished_late, overdue).subquery("late")


def _under_way(window: Window, agencies: list[str], cut: datetime, replayed: Replayed) -> Any:
    """(agency, holder, step, dossier, overdue, overran) of each dossier open at `cut`: the step under way then
    (the first completed after `cut`, else the one under way now), whether the dossier was overdue at `cut`
    (1/0) and whether the step had overrun its own deadline by then (1/0; NULL: no deadline)."""
    opened = (select(Dossier.id.label("dossier_id"), Dossier.agency_code.label("agency_code"),
                     case((_overdue_at(cut, replayed), 1), else_=0).label("overdue"))
              .select_from(Dossier).outerjoin(DossierProgress, DossierProgress.dossier_id == Dossier.id)
              .where(Dossier.agency_code.in_(agencies), _open_at(window, cut, replayed)).subquery("opened"))
    first_after = (select(StepRecord.dossier_id, func.min(StepRecord.history_seq).label("seq"))
                   .join(opened, opened.c.dossier_id == StepRecord.dossier_id)
                   .where(StepRecord.ended_at > cut).group_by(StepRecord.dossier_id).subquery("first_after"))
    completed_since = (
        select(opened.c.agency_code, StepRecord.holder_id.label("holder_id"), StepRecord.step.label("step"),
               opened.c.dossier_id, opened.c.overdue,
               case((StepRecord.due_at.is_(None), null()), (StepRecord.due_at < cut, 1), else_=0).label("overran"))
        .join(first_after, and_(first_after.c.dossier_id == StepRecord.dossier_id,
                                first_after.c.seq == StepRecord.history_seq))
        .join(opened, opened.c.dossier_id == StepRecord.dossier_id))
    due, paused_at = DossierProgress.step_due_at, DossierProgress.paused_at
    overran = and_(due < cut, or_(paused_at.is_(None), due < paused_at))  # a supplement wait stops its clock
    still_under_way = (
        select(opened.c.agency_code, DossierProgress.assignee_id, DossierProgress.step_under_way,
               opened.c.dossier_id, opened.c.overdue, case((due.is_(None), null()), (overran, 1), else_=0))
        .join(opened, opened.c.dossier_id == DossierProgress.dossier_id)
        .where(~exists().where(StepRecord.dossier_id == opened.c.dossier_id, StepRecord.ended_at > cut)))
    return union_all(completed_since, still_under_way).cte("under_way")


def _blamed(window: Window, agencies: list[str], cut: datetime, replayed: Replayed, under_way: Any) -> Any:
    """(agency, holder, step, dossier) of each late dossier for the officials it is attributed to."""
    late = _late_dossiers(window, agencies, cut, replayed)
    closed = (select(StepRecord.agency_code.label("agency_code"), StepRecord.holder_id.label("holder_id"),
                     StepRecord.step.label("step"), StepRecord.dossier_id.label("dossier_id"))
              .join(late, late.c.dossier_id == StepRecord.dossier_id)
              .where(StepRecord.overran.is_(True), StepRecord.holder_id.is_not(None), StepRecord.ended_at <= cut))
    holding = (select(under_way.c.agency_code, under_way.c.holder_id,
                      case((under_way.c.overran == 1, under_way.c.step), else_=literal(IN_PROGRESS)),
                      under_way.c.dossier_id)
               .where(under_way.c.overdue == 1, under_way.c.holder_id.is_not(None),
                      or_(under_way.c.overran == 1, under_way.c.overran.is_(None))))
    return union_all(closed, holding).subquery("blamed")


def _handled(window: Window, agencies: list[str], under_way: Any, blamed: Any) -> Any:
    """(agency, holder, dossier): a step completed in the period, the step under way at `cut` of a dossier the
    agency counts open, or a late dossier attributed to them (a step that overran before the period)."""
    completed = (select(StepRecord.agency_code.label("agency_code"), StepRecord.holder_id.label("holder_id"),
                        StepRecord.dossier_id.label("dossier_id"))
                 .where(StepRecord.agency_code.in_(agencies), StepRecord.holder_id.is_not(None),
                        StepRecord.ended_at >= window.since, StepRecord.ended_at < window.until))
    held = (select(under_way.c.agency_code, under_way.c.holder_id, under_way.c.dossier_id)
            .where(under_way.c.holder_id.is_not(None)))
    return union_all(completed, held, select(blamed.c.agency_code, blamed.c.holder_id, blamed.c.dossier_id)
                     ).subquery("handled")


async def _official_counts(session: AsyncSession, window: Window, agencies: list[str], cut: datetime,
                           replayed: Replayed) -> dict[tuple[str, uuid.UUID | None], dict[str, Any]]:
    under_way = _under_way(window, agencies, cut, replayed)
    blamed = _blamed(window, agencies, cut, replayed, under_way)
    out: dict[tuple[str, uuid.UUID | None], dict[str, Any]] = {}
    per_step = (select(blamed.c.agency_code, blamed.c.holder_id, blamed.c.step,
                       func.count(func.distinct(blamed.c.dossier_id)))
                .group_by(blamed.c.agency_code, blamed.c.holder_id, blamed.c.step))
    for agency, holder, step, n in (await session.execute(per_step)).all():
        out.setdefault((agency, holder), {"steps": {}})["steps"][step] = int(n)
    per_official = (select(blamed.c.agency_code, blamed.c.holder_id, func.count(func.distinct(blamed.c.dossier_id)),
                           func.count(func.distinct(case((_apologised(blamed.c.dossier_id, cut),
                                                          blamed.c.dossier_id)))))
                    .group_by(blamed.c.agency_code, blamed.c.holder_id))
    for agency, holder, n, apologised in (await session.execute(per_official)).all():
        out[(agency, holder)].update(late=int(n), apologised=int(apologised or 0))
    worked = _handled(window, agencies, under_way, blamed)
    handled = (select(worked.c.agency_code, worked.c.holder_id, func.count(func.distinct(worked.c.dossier_id)))
               .group_by(worked.c.agency_code, worked.c.holder_id))
    for agency, holder, n in (await session.execute(handled)).all():
        out.setdefault((agency, holder), {"steps": {}})["handled"] = int(n)
    return out


async def _names(session: AsyncSession, ids: set[uuid.UUID | None]) -> dict[uuid.UUID | None, str | None]:
    if not ids:
        return {}
    known = sorted(i for i in ids if i is not None)
    rows = await session.execute(select(Account.id, Account.name).where(Account.id.in_(known)))
    return {i: n for i, n in rows.all()}


def _share(late: int, handled: int) -> float | None:
    return round(late / handled, 4) if handled else None


async def late_list(session: AsyncSession, window: Window, limit: int, cursor: str | None) -> LateList:
    now = clock.now()
    cut = window.cut(now)
    replayed = await _replayed_at(session, window, cut) if cut < now else Replayed()
    counts = await _agency_counts(session, window, cut, replayed)
    codes = sorted(counts)
    if cursor:
        after = str(decode_cursor(cursor, 1)[0])
        codes = [c for c in codes if c > after]
    page, more = codes[:limit], len(codes) > limit
    officials = await _official_counts(session, window, page, cut, replayed) if page else {}
    names = await _names(session, {holder for _, holder in officials})
    agency_names = dict((await session.execute(select(Agency.code, Agency.name).where(Agency.code.in_(page))))
                        .all()) if page else {}
    items = []
    for code in page:
        row = counts[code]
        late = row.get("finished_late", 0) + row.get("still_overdue", 0)
        people = [LateOfficial(name=names.get(holder), agency_code=agency, handled=o.get("handled", 0),
                               late=o.get("late", 0), late_share=_share(o.get("late", 0), o.get("handled", 0)),
                               apologised=o.get("apologised", 0), steps=o["steps"])
                  for (agency, holder), o in officials.items() if agency == code and o.get("late")]
        people.sort(key=lambda p: (-p.late, p.name or ""))
        items.append(LateAgency(agency_code=code, agency_name=agency_names.get(code), handled=row["handled"],
                                finished_late=row.get("finished_late", 0), still_overdue=row.get("still_overdue", 0),
                                late=late, late_share=_share(late, row["handled"]),
                                apologised=row.get("apologised", 0), officials=people))
    return LateList(period_from=window.start, period_to=window.end, generated_at=now, open_counted_at=cut,
                    items=items, next_cursor=encode_cursor([page[-1]]) if more and page else None)
