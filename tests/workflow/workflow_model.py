"""For tests/workflow/test_workflow_state_machine.py: the `standard` workflow's contract written out from
DOMAIN.md and issue 7 (not read from the app), the working calendar as GET /v1/calendar/working-days answers
it with issue 7's deadline arithmetic over it, a clock the tests move, and the machine's runtime and memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from app.core.clock import LOCAL_TZ
from tests.support.identity_fixtures import Actor
from tests.support.workflow_fixtures import Flow

NATIONAL_CODES = {"submitted": 1, "received": 2, "rejected": 3, "processing": 4, "supplement_requested": 5,
                  "payment_requested": 6, "withdrawn": 7, "stopped": 8, "processed": 9, "returned": 10}
TERMINAL = frozenset({"rejected", "withdrawn", "stopped", "returned"})
CLOCK_RUNNING = frozenset({"received", "processing"})  # where a dossier becomes `overdue` as time passes
CLOCK_PAUSED = "supplement_requested"  # overdue only if it already was when the supplement was asked
# action -> (the states it leaves from, who may take it)
ACTIONS: dict[str, tuple[set[str], set[str]]] = {
    "receive": ({"submitted"}, {"reception"}),
    "reject": ({"submitted"}, {"reception"}),
    "request_supplement": ({"submitted", "received", "processing"}, {"reception", "processing"}),
    "supplement": ({"supplement_requested"}, {"applicant", "reception"}),  # reception: handed in at the desk
    "request_payment": ({"submitted"}, {"reception"}),
    "confirm_payment": ({"payment_requested"}, {"finance"}),
    "assign": ({"received"}, {"reception", "processing"}),
    "appraise": ({"processing"}, {"processing"}),
    "approve": ({"processing"}, {"approval"}),
    "stop": ({"processing"}, {"processing", "approval"}),
    "withdraw": ({"submitted", "received", "processing", "supplement_requested", "payment_requested"},
                 {"applicant"}),
    "issue_result": ({"processing"}, {"approval"}),
    "return_result": ({"processed"}, {"reception"}),
    "apologise": ({"received", "processing", "supplement_requested"}, {"processing", "approval"}),
}
# Where an action leads; `supplement` goes back to where the dossier was asked, the others stay where they are.
TARGETS = {"receive": "received", "reject": "rejected", "request_supplement": "supplement_requested",
           "request_payment": "payment_requested", "confirm_payment": "received", "assign": "processing",
           "stop": "stopped", "withdraw": "withdrawn", "issue_result": "processed", "return_result": "returned"}
ENDINGS = frozenset({"reject", "withdraw", "stop"})
# The dossier fields a transition may change (the rest of GET /v1/dossiers/{id} depends on who reads it).
WORKFLOW_FIELDS = ("state", "national_status_code", "version", "received_at", "due_at", "original_due_at",
                   "paused_working_days", "overdue", "finished_at")
END_OF_DAY = time(17, 0)  # DOMAIN.md: the working day ends at 17:00 local (DVC_WORKING_DAY_END_HOUR's default)


def local(value: str) -> datetime:
    """An RFC 3339 time from the API, as Vietnamese local time."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(LOCAL_TZ)


def end_of(day: date) -> datetime:
    return datetime.combine(day, END_OF_DAY, tzinfo=LOCAL_TZ)


def overdue(state: str, finished: bool, due: datetime | None, paused_at: datetime | None, now: datetime) -> bool:
    """The `overdue` rule (issue 7, DOMAIN.md "Time"): unfinished and past due, with the clock running; or
    waiting on a supplement asked after the due moment had passed (the wait is the applicant's, lateness before
    it is not)."""
    if finished or due is None:
        return False
    if state in CLOCK_RUNNING:
        return now > due
    return state == CLOCK_PAUSED and paused_at is not None and paused_at > due


class MovingClock:
    """A replacement for app.core.clock.now: fixed at `moment`, which the tests move."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment.astimezone(UTC)


class Calendar:
    """Working days as the public calendar answers them (asked a year at a time), and issue 7's arithmetic:
    a reception after 17:00 or on a day off counts for the next working day; day 1 is the first working day
    after it; the due time is 17:00 local on the last day."""

    def __init__(self, fetch_year: Callable[[int], dict[date, bool]]) -> None:
        self.fetch_year = fetch_year
        self.days: dict[date, bool] = {}

    def working(self, day: date) -> bool:
        if day not in self.days:
            self.days.update(self.fetch_year(day.year))
        return self.days[day]

    def add(self, day: date, n: int) -> date:
        """The n-th working day after `day`."""
        while n > 0:
            day += timedelta(days=1)
            n -= self.working(day)
        return day

    def effective(self, moment: datetime) -> date:
        """The day a reception at `moment` counts for."""
        moment = moment.astimezone(LOCAL_TZ)
        day = moment.date()
        return self.add(day, 1) if moment.time() > END_OF_DAY or not self.working(day) else day

    def between(self, first: date, last: date) -> int:
        """Working days in (first, last]."""
        return sum(self.working(first + timedelta(days=k)) for k in range(1, (last - first).days + 1))

    def due(self, received: datetime, days: int) -> datetime:
        return end_of(self.add(self.effective(received), days))


@dataclass
class Runtime:
    """What every example shares: one event loop, the app's client, the accounts, procedures, the calendar."""

    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    flow: Flow
    actors: dict[str, Actor]
    procedures: dict[tuple[int, str, str], str] = field(default_factory=dict)
    calendar: Calendar = field(init=False)

    def __post_init__(self) -> None:
        self.calendar = Calendar(self.working_days)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def working_days(self, year: int) -> dict[date, bool]:
        response = self.run(self.client.get("/v1/calendar/working-days",
                                            params={"from": f"{year}-01-01", "to": f"{year}-12-31"}))
        assert response.status_code == 200, response.text
        return {date.fromisoformat(i["date"]): i["working"] for i in response.json()["items"]}


@dataclass
class Tracked:
    """One dossier as the machine last read it."""

    id: str
    days: int
    rule: str
    fees: str
    state: str = "submitted"
    etag: str = ""
    old_etags: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    actions: dict[str, list[str]] = field(default_factory=dict)  # caller -> next_actions
    view: dict[str, Any] = field(default_factory=dict)  # GET /v1/dossiers/{id} as the applicant
    paused_at: datetime | None = None  # when the open supplement request was made
