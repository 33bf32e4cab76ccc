"""For tests/reporting/test_indicator_crosscheck.py: a population of dossiers planned as timelines, and the
Decision 766 figures and the public late list worked out from those timelines as the contract words them
(issue 9, DOMAIN.md "Decision 766" and "Time", docs/CHANGES.md), never read from app/reporting.

The contract, as modelled here:
- a dossier is *submitted* on the local day of its submission (online unless handed in at the desk); it is
  *finished* on the day its result is issued (`processed`) or its processing is stopped, after reception;
  rejected and withdrawn dossiers are neither finished nor open;
- *late* when finished after its ORIGINAL due date (an apology's new date does not excuse; a pause for a
  supplement moves it out by the working days waited; a restart gives a new one from the supplement), or, for
  the indicators only, when its supplement was requested more than once (the setting's default);
- *open*: received or processing (clock running, not waiting on the applicant) at the end of the period, as
  the worker counted it minutes after that midnight, or now for the current period; overdue when past its
  original due date at that midnight (or now); a dossier waiting on a supplement asked after its original due
  date had passed is open (and so overdue) too: the wait is the applicant's, the lateness before it is not;
- average processing days: working days from reception (or a restart's new reception) to the result or stop,
  supplement waits left out;
- the late list: per agency, finished in the window plus open now; finished late, still overdue now,
  apologised among the late ones; per official, lateness goes to whoever held a step that overran its
  allowance, the step under way of a dossier still overdue included (held by its assignee: the appraisal,
  judged at the start of a supplement wait, then the approval), and to the assignee of a dossier still
  overdue whose step under way has no allowance (`in_progress`); not while that step is within its allowance.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from app.core.clock import LOCAL_TZ
from tests.workflow.workflow_model import Calendar, end_of

AGENCIES = ("000.00.12.H01", "000.00.31.H02")
# Per agency, two procedures: (processing days, clock on supplement, online level, appraisal allowance).
PROCEDURES: tuple[tuple[tuple[int, str, str, int | None], ...], ...] = (
    ((3, "pause", "full", 1), (5, "restart", "partial", None)),
    ((2, "restart", "full", 1), (4, "pause", "direct", None)),
)
START = date(2025, 3, 3)  # a Monday; the report's month is March 2025
WEIGHTS = {"transparency": 18, "progress": 20, "online_service": 22, "digitisation": 22, "satisfaction": 18}
SATISFIED_MIN = 4  # DVC_RATING_SATISFIED_MIN_SCORE's default


def at(day: date, minute: int) -> datetime:
    """`minute` minutes after 08:00 local on `day`."""
    return datetime.combine(day, time(8, 0), tzinfo=LOCAL_TZ) + timedelta(minutes=minute)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ)


@dataclass
class Spec:
    """What hypothesis draws for one dossier (see test_indicator_crosscheck.specs)."""

    agency: int
    procedure: int
    desk: bool
    citizen: int
    submit_day: int
    minute: int
    reception: str  # receive | reject | withdraw
    pre_supplement: int | None  # working days waited on a supplement asked before reception
    delay: int  # working days from submission to reception
    # Working days waited on each supplement asked during processing; -1: never answered; -2: never answered,
    # asked once the dossier was already late (its lateness stays counted while it waits).
    supplements: list[int]
    apology: int | None  # the apology postpones the due date by this many working days
    ending: str  # result | returned | stop | withdraw | received_only | processing
    finish: int  # working days relative to the due day (negative: early)
    appraise: int  # working days from assignment to appraisal
    rating: int | None


@dataclass
class Event:
    moment: datetime
    dossier: int
    seq: int
    action: str
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[datetime, int, int]:
        return (self.moment, self.dossier, self.seq)


@dataclass
class Timeline:
    """One dossier's planned life, with what the contract's figures need."""

    index: int
    agency: str
    procedure: tuple[int, int]
    days: int
    rule: str
    channel: str
    citizen: int
    events: list[Event] = field(default_factory=list)
    submitted_at: datetime | None = None
    states: list[tuple[datetime, str]] = field(default_factory=list)
    received_at: list[tuple[datetime, datetime]] = field(default_factory=list)  # (from, reception moment)
    original_due: list[tuple[datetime, datetime]] = field(default_factory=list)  # (from, original due)
    supplement_requests: list[datetime] = field(default_factory=list)
    apologies: list[datetime] = field(default_factory=list)
    finished: tuple[datetime, str] | None = None  # (moment, processed | stopped) after reception
    late: bool = False
    processing_days: int = 0
    apologised_when_finished: bool = False
    appraisal: tuple[datetime, bool] | None = None  # (when, overran its allowance)
    # The deadline of the appraisal while under way: from the assignment, then from each supplement answered
    # (its start moves out by the working days waited, unless it had overrun). Empty without an allowance.
    appraisal_due: list[tuple[datetime, datetime]] = field(default_factory=list)
    assigned_at: datetime | None = None
    rating: tuple[datetime, int] | None = None

    def _value(self, series: list[tuple[datetime, Any]], moment: datetime) -> Any:
        found = None
        for start, value in series:
            if start <= moment:
                found = value
        return found

    def state(self, moment: datetime) -> str | None:
        return self._value(self.states, moment)

    def due(self, moment: datetime) -> datetime | None:
        return self._value(self.original_due, moment)

    def received(self, moment: datetime) -> datetime | None:
        return self._value(self.received_at, moment)

    def requests(self, moment: datetime) -> int:
        return sum(1 for m in self.supplement_requests if m <= moment)

    def apologised(self, moment: datetime) -> bool:
        return any(m <= moment for m in self.apologies)

    def running(self, moment: datetime) -> bool:
        return self.state(moment) in ("received", "processing")

    def late_when_paused(self, moment: datetime) -> bool:
        """Waiting on a supplement asked after the original due date had passed."""
        if self.state(moment) != "supplement_requested":
            return False
        asked = max((m for m in self.supplement_requests if m <= moment), default=None)
        due = self.due(moment)
        return asked is not None and due is not None and due < asked

    def appraisal_overran(self, moment: datetime) -> bool | None:
        """The appraisal under way at `moment` is past its deadline (judged when a supplement wait began, if the
        dossier waits); None without an allowance."""
        due = self._value(self.appraisal_due, moment)
        if due is None:
            return None
        if self.state(moment) == "supplement_requested":
            moment = max(m for m in self.supplement_requests if m <= moment)
        return moment > due

    def open_for_lateness(self, moment: datetime) -> bool:
        """Open as the figures and the late list count it: the clock runs, or it paused on a late dossier."""
        return self.running(moment) or self.late_when_paused(moment)


class Planner:
    """Turns specs into timelines, with issue 7's deadline arithmetic over the public calendar."""

    def __init__(self, calendar: Calendar) -> None:
        self.cal = calendar

    def before(self, day: date, n: int) -> date:
        while n > 0:
            day -= timedelta(days=1)
            n -= self.cal.working(day)
        return day

    def plan(self, index: int, spec: Spec) -> Timeline:
        days, rule, _, allowance = PROCEDURES[spec.agency][spec.procedure]
        t = Timeline(index, AGENCIES[spec.agency], (spec.agency, spec.procedure), days, rule,
                     "desk" if spec.desk else "online", spec.citizen)
        cursor = [at(self.cal.add(self.before(START, 1), spec.submit_day + 1), spec.minute)]

        def step(action: str, working_days: int = 0, **body: Any) -> datetime:
            moment = cursor[0]
            if working_days > 0:
                moment = at(self.cal.add(moment.date(), working_days), spec.minute)
            else:
                moment += timedelta(minutes=9)
            if moment.time() > time(16, 30):  # stay inside the working day (17:00 would be a day later)
                moment = at(self.cal.add(moment.date(), 1), spec.minute)
            cursor[0] = moment
            t.events.append(Event(moment, index, len(t.events), action, body))
            return moment

        def state(moment: datetime, name: str) -> None:
            t.states.append((moment, name))

        t.submitted_at = step("submit", 0)
        state(t.submitted_at, "submitted")
        if spec.pre_supplement is not None and not spec.desk:
            asked = step("request_supplement")
            t.supplement_requests.append(asked)
            state(asked, "supplement_requested")
            state(step("supplement", spec.pre_supplement), "submitted")
        if spec.reception == "reject":
            state(step("reject", spec.delay), "rejected")
            self._rate(t, spec, step)
            return t
        if spec.reception == "withdraw" and not spec.desk:
            state(step("withdraw", spec.delay), "withdrawn")
            return t
        received = step("receive", spec.delay)
        state(received, "received")
        t.received_at.append((received, received))
        due = self.cal.due(received, days)
        t.original_due.append((received, due))
        current_due = due
        if spec.ending == "received_only":
            return t
        t.assigned_at = step("assign")
        state(t.assigned_at, "processing")
        appraise_start = t.assigned_at
        if allowance is not None:
            t.appraisal_due.append((appraise_start, self.cal.due(appraise_start, allowance)))
        paused_days = 0
        for wait in ([] if spec.desk else spec.supplements):
            asked = step("request_supplement", {-1: 1, -2: days + 1}.get(wait, 0))
            t.supplement_requests.append(asked)
            state(asked, "supplement_requested")
            if wait < 0:
                return t  # never answered: waiting on the applicant for good
            answered = step("supplement", wait)
            state(answered, "processing")
            # The appraisal's start moves out by the working days waited, as the due date does, unless it had
            # overrun before the wait; a restarted clock restarts it (app.workflow.steps.resume_step).
            waited = self.cal.between(self.cal.effective(asked), self.cal.effective(answered))
            if rule == "restart":
                appraise_start = answered
            elif not (t.appraisal_due and t.appraisal_due[-1][1] < asked):
                appraise_start = datetime.combine(self.cal.add(appraise_start.date(), waited),
                                                  appraise_start.timetz())
            if allowance is not None:
                t.appraisal_due.append((answered, self.cal.due(appraise_start, allowance)))
            if rule == "restart":
                t.received_at.append((answered, answered))
                current_due = due = self.cal.due(answered, days)
            else:
                paused_days += waited
                due = end_of(self.cal.add(due.date(), waited))
                current_due = end_of(self.cal.add(current_due.date(), waited))
            t.original_due.append((answered, due))
        # An apology is due by the end of the working day before the due date (issue 7): taken now, if still so.
        if spec.apology is not None and cursor[0].date() < current_due.date():
            new_day = self.cal.add(current_due.date(), spec.apology)
            t.apologies.append(step("apologise", 0, new_due_date=new_day.isoformat()))
            current_due = end_of(new_day)
        if spec.ending == "withdraw" and not spec.desk:
            state(step("withdraw", 1), "withdrawn")
            return t
        appraised = step("appraise", spec.appraise)
        if allowance is not None:
            t.appraisal = (appraised, appraised > self.cal.due(appraise_start, allowance))
        else:
            t.appraisal = (appraised, False)
        if spec.ending == "processing":
            return t
        target = self.cal.add(due.date(), spec.finish) if spec.finish >= 0 else self.before(due.date(), -spec.finish)
        gap = max(0, self.cal.between(cursor[0].date(), target))
        step("approve", gap)
        ending = "stop" if spec.ending == "stop" else "issue_result"
        finished = step(ending)
        state(finished, "stopped" if ending == "stop" else "processed")
        t.finished = (finished, "stopped" if ending == "stop" else "processed")
        t.late = finished > due
        t.apologised_when_finished = t.apologised(finished)
        reception = self._value_received(t, finished)
        t.processing_days = max(0, self.cal.between(self.cal.effective(reception), self.cal.effective(finished))
                                - paused_days)
        if spec.ending == "returned":
            state(step("return_result"), "returned")
        if spec.ending in ("returned", "stop"):
            self._rate(t, spec, step)
        return t

    def _value_received(self, t: Timeline, moment: datetime) -> datetime:
        received = t.received(moment)
        assert received is not None
        return received

    def _rate(self, t: Timeline, spec: Spec, step: Any) -> None:
        if spec.rating is not None and not spec.desk:
            t.rating = (step("rate", 1, score=spec.rating), spec.rating)


# --- the figures -------------------------------------------------------------------------------------------------

Key = str


@dataclass
class Scope:
    start: date
    end: date  # inclusive
    open_at: datetime  # when the open dossiers are counted
    overdue_at: datetime  # what "past the original due date" is measured against
    as_of: datetime  # what has happened by the time the report is asked for
    agencies: frozenset[str] | None = None
    procedure: str | None = None

    def day_in(self, moment: datetime | None) -> bool:
        return (moment is not None and moment <= self.as_of
                and self.start <= moment.astimezone(LOCAL_TZ).date() <= self.end)


def _keys(t: Timeline, codes: dict[tuple[int, int], str]) -> dict[str, Key]:
    return {"": "", "agency": t.agency, "procedure": codes[t.procedure]}


def indicator_figures(timelines: list[Timeline], codes: dict[tuple[int, int], str], scope: Scope,
                      group_by: str = "") -> dict[Key, dict[str, tuple[float, int]]]:
    """(numerator, denominator) of each checked ratio, per key of `group_by` ("" for the total)."""
    raw: dict[Key, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    used: dict[Key, set[str]] = defaultdict(set)
    boundary = midnight(scope.end + timedelta(days=1))
    for t in timelines:
        code = codes[t.procedure]
        if scope.agencies is not None and t.agency not in scope.agencies:
            continue
        if scope.procedure is not None and code != scope.procedure:
            continue
        r = raw[_keys(t, codes)[group_by]]
        if scope.day_in(t.submitted_at):
            r["submitted"] += 1
            r["online"] += t.channel == "online"
            if t.channel == "online":
                used[_keys(t, codes)[group_by]].add(code)
        if t.finished and scope.day_in(t.finished[0]):
            many = len([m for m in t.supplement_requests if m <= t.finished[0]]) > 1
            r["finished"] += 1
            r["late"] += t.late or many
            r["processing_days"] += t.processing_days
            r["results"] += t.finished[1] == "processed"
        received = t.received(scope.open_at)
        if t.open_for_lateness(scope.open_at) and received is not None and received < boundary:
            due = t.due(scope.open_at)
            overdue = due is not None and due < scope.overdue_at
            r["open"] += 1
            r["open_overdue"] += overdue
            r["late"] += overdue or t.requests(scope.open_at) > 1
        if t.rating and scope.day_in(t.rating[0]):
            r["ratings"] += 1
            r["rating_sum"] += t.rating[1]
            r["satisfied"] += t.rating[1] >= SATISFIED_MIN
    out: dict[Key, dict[str, tuple[float, int]]] = {}
    for key, r in raw.items():
        handled = int(r["finished"] + r["open"])
        dissatisfied = r["ratings"] - r["satisfied"]
        out[key] = {
            "dossiers_online": (r["online"], int(r["submitted"])),
            "dossiers_digitised": (r["submitted"], int(r["submitted"])),
            "digitised_data_reused": (0, int(r["submitted"])),  # the model's applicants upload every file
            "finished_on_time": (handled - r["late"], handled),
            "overdue_open": (r["open_overdue"], int(r["open"])),
            "average_processing_days": (r["processing_days"], int(r["finished"])),
            "electronic_results": (0, int(r["results"])),
            "procedure_satisfaction": (max(handled - r["late"] - dissatisfied, 0), handled),
            "ratings_satisfied": (r["satisfied"], int(r["ratings"])),
            "average_rating": (r["rating_sum"], int(r["ratings"])),
            "online_procedures_used": (len(used[key]), -1),  # the denominator comes from the catalogue
        }
    return out


def catalogue(codes: dict[tuple[int, int], str], group_by: str, agencies: frozenset[str] | None
              ) -> dict[Key, tuple[int, int, set[str]]]:
    """(published, offered online, online codes) per key: the catalogue is the one this test publishes."""
    out: dict[Key, tuple[int, int, set[str]]] = {}
    for (a, p), code in codes.items():
        if agencies is not None and AGENCIES[a] not in agencies:
            continue
        key = {"": "", "agency": AGENCIES[a], "procedure": code}[group_by]
        published, online, names = out.get(key, (0, 0, set()))
        level = PROCEDURES[a][p][2]
        out[key] = (published + 1, online + (level != "direct"),
                    names | ({code} if level != "direct" else set()))
    return out


def late_list(timelines: list[Timeline], start: date, end: date, now: datetime,
              agencies: frozenset[str] | None = None) -> dict[str, dict[str, Any]]:
    """The public late list per agency: its figures and, per official role, theirs."""
    boundary = midnight(end + timedelta(days=1))
    out: dict[str, dict[str, Any]] = {}
    officials: dict[str, dict[str, Any]] = defaultdict(lambda: {"handled": set(), "late": set(), "steps":
                                                                  defaultdict(set), "apologised": set()})
    for t in timelines:
        if agencies is not None and t.agency not in agencies:
            continue
        row = out.setdefault(t.agency, {"handled": 0, "finished_late": 0, "still_overdue": 0, "apologised": 0})
        finished_in = t.finished is not None and start <= t.finished[0].astimezone(LOCAL_TZ).date() <= end \
            and t.finished[0] <= now
        late = False
        if finished_in:
            row["handled"] += 1
            if t.late:
                late = True
                row["finished_late"] += 1
                row["apologised"] += t.apologised_when_finished
        received = t.received(now)
        person = officials[t.agency]
        if t.open_for_lateness(now) and received is not None and received < boundary:
            row["handled"] += 1
            if t.assigned_at is not None and t.assigned_at <= now:  # an open dossier they hold counts as handled
                person["handled"].add(t.index)
            due = t.due(now)
            if due is not None and due < now:
                late = True
                row["still_overdue"] += 1
                row["apologised"] += t.apologised(now)
        if t.appraisal and t.appraisal[0] <= now and start <= t.appraisal[0].astimezone(LOCAL_TZ).date() <= end:
            person["handled"].add(t.index)
        if finished_in and t.finished is not None and t.finished[1] == "stopped":
            person["handled"].add(t.index)  # they stop it: the stop completes the step under way (the slip)
        if late:  # the processing official held the appraisal and is every dossier's assignee
            blamed = False
            if t.appraisal and t.appraisal[0] <= now and t.appraisal[1]:
                person["steps"]["appraise"].add(t.index)
                blamed = True
            if (t.finished is None or t.finished[0] > now) and t.assigned_at is not None and t.assigned_at <= now:
                appraising = t.appraisal is None or t.appraisal[0] > now
                overran = t.appraisal_overran(now) if appraising else None  # the approval has no allowance
                if overran is not False:  # within its allowance, the step under way is not where it went late
                    person["steps"]["appraise" if overran else "in_progress"].add(t.index)
                    blamed = True
            if blamed:
                person["late"].add(t.index)
                person["handled"].add(t.index)  # late for them is also handled by them: late_share <= 1
                if t.apologised(now):
                    person["apologised"].add(t.index)
    result = {}
    for agency, row in out.items():
        if not row["handled"]:
            continue
        late = row["finished_late"] + row["still_overdue"]
        person = officials[agency]
        official = None
        if person["late"]:
            handled = len(person["handled"])
            official = {"handled": handled, "late": len(person["late"]),
                        "late_share": round(len(person["late"]) / handled, 4) if handled else None,
                        "apologised": len(person["apologised"]),
                        "steps": {k: len(v) for k, v in person["steps"].items() if v}}
        result[agency] = {**row, "late": late, "late_share": round(late / row["handled"], 4),
                          "processing_official": official}
    return result


def states_by_agency(timelines: list[Timeline], codes: dict[tuple[int, int], str], now: datetime
                     ) -> dict[str, dict[tuple[str, str], int]]:
    out: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for t in timelines:
        state = t.state(now)
        if state is not None:
            out[t.agency][(codes[t.procedure], state)] += 1
    return {a: dict(v) for a, v in out.items()}
