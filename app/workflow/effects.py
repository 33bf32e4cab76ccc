"""What an action does besides moving the state: the effects named in the workflow definition.

Each runner changes the dossier and its progress row inside the transition's transaction and adds what it
did to the history entry's `details`. Clock effects follow DOMAIN.md "Time": start (due date from the
version's processing days), pause and resume (the due date moves out by the working days waited) or restart
(a new due date from the supplement's reception, with a new receipt), reschedule (an apology's new date).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue.models import Agency
from app.core.clock import LOCAL_TZ, utc_text
from app.core.problems import ProblemError, validation_problem
from app.core.settings import get_settings
from app.dossiers.models import Attachment, Dossier
from app.dossiers.storage import get_store
from app.identity import service as identity
from app.workflow import deadlines, history, notices, signatures, steps
from app.workflow.calendar_service import load_calendar, load_calendar_for_deadline
from app.workflow.definition import Effect, NoticeEffect, ObligationEffect, StepEffect
from app.workflow.engine import Plan, TransitionRequest
from app.workflow.history import ActorRef
from app.workflow.hooks import Exemption, fee_gate
from app.workflow.models import DossierProgress
from app.workflow.progress import VersionFacts, apology_deadline

# How far one apology may move the return date (form 04): a year is more than any honest delay, so a later
# date is a typo or a dossier being parked; the bound also keeps dates far from date.max (no overflow).
MAX_POSTPONEMENT_DAYS = 366


@dataclass
class Context:
    session: AsyncSession
    dossier: Dossier
    progress: DossierProgress
    facts: VersionFacts
    plan: Plan
    request: TransitionRequest
    actor: ActorRef
    now: datetime
    seq: int  # the history entry this transition will write
    tracking_number: str | None = None
    exemptions: list[Exemption] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    result_files: list[Attachment] = field(default_factory=list)
    signatures: list[dict[str, Any]] = field(default_factory=list)


def _local_date(moment: datetime) -> Any:
    return moment.astimezone(LOCAL_TZ).date()


async def _attachments(ctx: Context, kind: str, since: datetime | None = None) -> list[Attachment]:
    """The request's attachments, each one of this dossier's files of `kind`, uploaded `since` when given
    (422 otherwise)."""
    ids = list(dict.fromkeys(ctx.request.attachments))
    query = select(Attachment).where(Attachment.id.in_(ids), Attachment.dossier_id == ctx.dossier.id,
                                     Attachment.kind == kind)
    if since is not None:
        query = query.where(Attachment.uploaded_at >= since)
    rows = (await ctx.session.execute(query)).scalars().all()
    found = {a.id for a in rows}
    missing = [str(i) for i in ids if i not in found]
    if missing:
        uploaded = " uploaded since the supplement was requested" if since is not None else ""
        raise validation_problem([{"loc": ["body", "attachments"], "type": "unknown_attachment",
                                   "msg": f"not {kind} files of this dossier{uploaded}: {', '.join(missing)}"}])
    return sorted(rows, key=lambda a: ids.index(a.id))


async def _saturday_until(ctx: Context) -> time | None:
    """When the agency's desk opens on Saturday mornings, the end of those hours (receptions until then count
    for the Saturday); None when it does not."""
    opens = (await ctx.session.execute(
        select(Agency.saturday_morning).where(Agency.code == ctx.dossier.agency_code))).scalar_one_or_none()
    return get_settings().saturday_morning_end if opens else None


async def start_clock(ctx: Context) -> None:
    days = ctx.facts.processing_days
    calendar = await load_calendar_for_deadline(ctx.session, _local_date(ctx.now), days)
    due = deadlines.due_at(ctx.now, days, calendar, saturday_until=await _saturday_until(ctx))
    ctx.dossier.received_at = ctx.now
    ctx.dossier.due_at = due
    ctx.progress.original_due_at = due
    ctx.progress.late_since = None
    ctx.progress.paused_working_days = 0
    ctx.progress.paused_at = None
    ctx.progress.step_started_at = ctx.progress.step_handed_over_at = ctx.now
    ctx.details.update(received_at=utc_text(ctx.now), due_at=utc_text(due), processing_days=days)


async def pause_clock(ctx: Context) -> None:
    # The wait starts now whether or not the clock runs yet: it also comes off the current step's time (unless that
    # step has overrun already: app.workflow.steps.resume_step).
    ctx.progress.paused_at = ctx.now
    original_due = ctx.progress.original_due_at or ctx.dossier.due_at
    if ctx.progress.late_since is None and original_due is not None and original_due < ctx.now:
        ctx.progress.late_since = original_due  # late already: the wait will move the date, not the lateness
    ctx.progress.supplement_requests += 1
    ctx.progress.approved = False  # new documents must be approved again
    ctx.details.update(items=list(ctx.request.items), supplement_requests=ctx.progress.supplement_requests)


async def resume_clock(ctx: Context) -> None:
    # The files answer this request: those sent for an earlier supplement were already answered with.
    files = await _attachments(ctx, "supplement", since=ctx.progress.paused_at)
    ctx.details["attachments"] = [str(a.id) for a in files]
    progress, dossier = ctx.progress, ctx.dossier
    paused_at = progress.paused_at
    progress.paused_at = None
    if paused_at is None:
        return
    if dossier.due_at is None or dossier.finished_at is not None:  # the clock had not started (asked at reception)
        calendar = await load_calendar(ctx.session, _local_date(paused_at), _local_date(ctx.now) + timedelta(days=31))
        await _resume_step(ctx, paused_at, deadlines.working_days_between(paused_at, ctx.now, calendar))
        return
    if ctx.facts.clock_on_supplement == "restart":
        steps.restart_step(progress, ctx.now)
        days = ctx.facts.processing_days
        calendar = await load_calendar_for_deadline(ctx.session, _local_date(ctx.now), days)
        due = deadlines.restart(ctx.now, days, calendar, saturday_until=await _saturday_until(ctx))
        dossier.received_at = ctx.now  # received anew: the receipt issued now counts the days from here
        dossier.due_at = progress.original_due_at = due
        progress.late_since = None  # a new clock: what was late before the restart is judged no more
        ctx.details.update(clock="restart", received_at=utc_text(ctx.now), due_at=utc_text(due))
        _notice(ctx, "receipt", await _receipt_content(ctx))
        return
    first = min(_local_date(paused_at), _local_date(dossier.due_at))
    span = (ctx.now - paused_at).days * 2 + 62
    calendar = await load_calendar(ctx.session, first - timedelta(days=31),
                                   max(_local_date(ctx.now), _local_date(dossier.due_at)) + timedelta(days=span))
    saturday_until = await _saturday_until(ctx)
    waited = deadlines.working_days_between(paused_at, ctx.now, calendar, saturday_until=saturday_until)
    dossier.due_at = deadlines.extend_for_pause(dossier.due_at, paused_at, ctx.now, calendar,
                                                saturday_until=saturday_until)
    if progress.original_due_at is not None:
        progress.original_due_at = deadlines.extend_for_pause(progress.original_due_at, paused_at, ctx.now,
                                                              calendar, saturday_until=saturday_until)
    progress.paused_working_days += waited
    await _resume_step(ctx, paused_at, waited)
    ctx.details.update(clock="pause", waited_working_days=waited, due_at=utc_text(dossier.due_at))


async def _resume_step(ctx: Context, paused_at: datetime, waited_working_days: int) -> None:
    """The wait comes off the step under way too, counted as for the dossier (app.workflow.steps.resume_step)."""
    name = await steps.name_under_way(ctx.session, ctx.dossier, ctx.progress, ctx.facts)
    await steps.resume_step(ctx.session, ctx.progress, paused_at=paused_at, resumed_at=ctx.now,
                            allowance=steps.step_limit(ctx.facts.step_time_limits, name) if name else (None, None),
                            waited_working_days=waited_working_days)


async def finish(ctx: Context) -> None:
    if ctx.dossier.finished_at is None:
        ctx.dossier.finished_at = ctx.now
        await _count_processing_days(ctx)


async def complete_processing(ctx: Context) -> None:
    """The result is issued: processing is over (what on-time is judged by); returning it comes after."""
    dossier = ctx.dossier
    dossier.finished_at = ctx.now
    await _count_processing_days(ctx)
    late = dossier.due_at is not None and ctx.now > dossier.due_at
    ctx.details.update(finished_at=utc_text(ctx.now), late=late,
                       late_against_original=bool(ctx.progress.original_due_at
                                                  and ctx.now > ctx.progress.original_due_at))


async def _count_processing_days(ctx: Context) -> None:
    """The agency's processing time, for Decision 766's average: working days from reception (or a restart's
    new reception) to now, less the working days spent waiting on a supplement (the applicant's time)."""
    received = ctx.dossier.received_at
    if received is None:
        return  # never received (withdrawn or refused at reception): not processed
    calendar = await load_calendar(ctx.session, _local_date(received) - timedelta(days=31),
                                   _local_date(ctx.now) + timedelta(days=31))
    elapsed = deadlines.working_days_between(received, ctx.now, calendar, saturday_until=await _saturday_until(ctx))
    ctx.progress.processing_working_days = max(0, elapsed - ctx.progress.paused_working_days)


def _new_due_date_problem(msg: str) -> ProblemError:
    return validation_problem([{"loc": ["body", "new_due_date"], "msg": msg, "type": "value_error"}])


async def reschedule(ctx: Context) -> None:
    """An apology's new return date: a working day after the current due date (and after today), due at its end.

    Due by the apology deadline (app.workflow.progress.apology_deadline); one sent after it is still taken, as
    Resolution 131/NQ-CP wants an apology for every late dossier, and recorded as `late` (history and notices).
    Either way the original due date stays what lateness is measured against (app.reporting): a late apology
    promises a new day, it does not make the dossier on time."""
    new_day = ctx.request.new_due_date
    dossier = ctx.dossier
    assert new_day is not None and dossier.due_at is not None  # required by the action; guard checked
    deadline = await apology_deadline(ctx.session, dossier.due_at)
    late = ctx.now > deadline
    current_day, today = _local_date(dossier.due_at), _local_date(ctx.now)
    if new_day <= current_day:
        raise _new_due_date_problem(f"must be after the current due date {current_day.isoformat()}")
    if new_day <= today:  # only a late apology can get here: its due date has passed already
        raise _new_due_date_problem(f"must be after today {today.isoformat()}: the due date has passed, and the "
                                    "apology promises a day still to come")
    base_day = max(current_day, today)
    if (new_day - base_day).days > MAX_POSTPONEMENT_DAYS:
        what = "the current due date" if base_day == current_day else "today"
        raise _new_due_date_problem(
            f"must be at most {MAX_POSTPONEMENT_DAYS} days after {what} {base_day.isoformat()}: "
            "an apology promises the day the result will be ready; apologise again if that day cannot be kept")
    calendar = await load_calendar(ctx.session, current_day, new_day)
    if not calendar.is_working_day(new_day):
        raise _new_due_date_problem(f"{new_day.isoformat()} is not a working day ({calendar.reason(new_day)})")
    previous = dossier.due_at
    if ctx.progress.original_due_at is None:
        ctx.progress.original_due_at = previous
    dossier.due_at = deadlines.end_of_working_day(new_day)
    ctx.details.update(previous_due_at=utc_text(previous), new_due_at=utc_text(dossier.due_at),
                       original_due_at=utc_text(ctx.progress.original_due_at), late=late,
                       apology_deadline=utc_text(deadline))


async def verify_result(ctx: Context) -> None:
    files = await _attachments(ctx, "result")
    ctx.result_files = files
    ctx.details["result_attachments"] = [str(a.id) for a in files]
    if not ctx.facts.must_be_signed:
        return
    for attachment in files:
        data = b"".join([chunk async for chunk in get_store().read(attachment.storage_key)])
        found = await signatures.verify_pdf(data, attachment.file_name)
        ctx.signatures += [{"attachment_id": str(attachment.id), **s.as_dict()} for s in found]
    ctx.details["signatures"] = ctx.signatures


async def _check_assignee(ctx: Context) -> uuid.UUID:
    assignee = ctx.request.assignee
    assert assignee is not None
    try:
        account: Any = await identity.get_account(ctx.session, assignee)
    except ProblemError:
        account = None
    roles = set(getattr(account, "roles", None) or ())
    if (account is None or str(account.kind) != "official" or account.agency_code != ctx.dossier.agency_code
            or not roles & {"processing", "approval"} or str(getattr(account, "status", "active")) != "active"):
        raise validation_problem([{"loc": ["body", "assignee"], "type": "unknown_assignee",
                                   "msg": "must be an active processing or approval official of the dossier's agency"}])
    ctx.details["assignee"] = {"id": str(assignee), "name": account.name}
    return assignee


async def step(ctx: Context, name: str) -> None:
    if name == "assign":
        ctx.progress.assignee_id = await _check_assignee(ctx)
        ctx.progress.approved = False
    elif name == "appraise":
        # A new appraisal after the approval is not what was approved: the result waits for approval again.
        ctx.progress.approved = False
    await _close_step(ctx, name)
    if name == "approve":
        ctx.progress.approved = True


async def close_under_way(ctx: Context) -> None:
    """`{step: $under_way}`: the action ends whichever step is under way (a stop), recorded under that step's name
    and allowance but with none of what the action of that name does (a stop during the approval approves
    nothing). A dossier with no step under way records the step under the action's own name."""
    name = await steps.name_under_way(ctx.session, ctx.dossier, ctx.progress, ctx.facts)
    await _close_step(ctx, name or ctx.plan.action)


async def _close_step(ctx: Context, name: str) -> None:
    started = ctx.progress.step_started_at or ctx.dossier.received_at or ctx.dossier.submitted_at or ctx.now
    ctx.details["step"] = await steps.close_step(
        ctx.session, dossier_id=ctx.dossier.id, agency_code=ctx.dossier.agency_code, step=name,
        history_seq=ctx.seq, holder=ctx.actor, started_at=started,
        handed_over_at=ctx.progress.step_handed_over_at or started, ended_at=ctx.now,
        step_time_limits=ctx.facts.step_time_limits)
    ctx.progress.step_started_at = ctx.progress.step_handed_over_at = ctx.now


async def obligation(ctx: Context, stage: Any) -> None:
    official = ctx.actor.id if ctx.actor.kind == "official" else None
    await fee_gate().create_obligation(ctx.session, ctx.dossier, stage, official_id=official,
                                       exemptions=ctx.exemptions)
    ctx.details["obligation"] = {"stage": stage, "exemptions": [{"item": e.item, "reason": e.reason}
                                                                 for e in ctx.exemptions]}


async def _receipt_content(ctx: Context) -> dict[str, Any]:
    names = {p.get("key"): p.get("name") for p in ctx.facts.document_parts if isinstance(p, dict)}
    # The documents filed, and the supplement files handed in (by earlier supplements, and by this one when a
    # restarted clock issues the receipt now): not every upload made while a supplement was requested.
    supplied = await history.supplied_ids(ctx.session, ctx.dossier.id)
    supplied |= {uuid.UUID(i) for i in ctx.details.get("attachments", [])}
    files = (await ctx.session.execute(select(Attachment).where(
        Attachment.dossier_id == ctx.dossier.id,
        or_(Attachment.kind == "document", and_(Attachment.kind == "supplement", Attachment.id.in_(supplied))))
        .order_by(Attachment.uploaded_at, Attachment.id))).scalars().all()
    return {"received_at": notices.local_iso(ctx.dossier.received_at),
            "due_at": notices.local_iso(ctx.dossier.due_at),
            "processing_days": ctx.facts.processing_days,
            "documents": [{"part": a.part, "name": names.get(a.part, a.part), "file_name": a.file_name}
                          for a in files],
            "delivery": {"method": ctx.dossier.delivery_method, "address": ctx.dossier.delivery_address}}


async def _notice_content(ctx: Context, kind: str) -> dict[str, Any]:
    request, dossier = ctx.request, ctx.dossier
    if kind == "receipt":
        return await _receipt_content(ctx)
    if kind == "supplement_request":
        return {"items": list(request.items), "reason": request.reason}
    if kind in notices.REASON_NOTICES:
        return {"reasons": [r for r in [request.reason, *request.items] if r]}
    if kind in ("apology", "explanation"):
        content = {"reason": request.reason, "new_due_at": notices.local_iso(dossier.due_at),
                   "original_due_at": notices.local_iso(ctx.progress.original_due_at),
                   "previous_due_at": _local_text(ctx.details.get("previous_due_at")),
                   # Sent after the apology deadline (reschedule): the form says so, as the history does.
                   "late": bool(ctx.details.get("late")),
                   "apology_deadline": _local_text(ctx.details.get("apology_deadline"))}
        if kind == "explanation":
            content["addressed_to"] = f"Thủ trưởng {dossier.agency_name}"
        return content
    if kind == "payment_request":
        exempt = {e.item: e.reason for e in ctx.exemptions}
        fees = [{"name": f.get("name"), "amount": 0 if i in exempt else int(f.get("amount", 0)),
                 "exempt_reason": exempt.get(i)}
                for i, f in enumerate(ctx.facts.fee_items) if f.get("due", "on_result") == "before_processing"]
        return {"fees": fees}
    if kind == "result":
        return {"result_name": ctx.facts.result.get("name"), "signatures": ctx.signatures,
                "files": [{"id": str(a.id), "file_name": a.file_name} for a in ctx.result_files]}
    if kind == "returned":
        return {"delivery": {"method": request.delivery, "tracking_number": ctx.tracking_number,
                             "address": dossier.delivery_address}}
    return {}


def _local_text(utc: Any) -> str | None:
    """A time the details hold as UTC text, as a notice shows it (local ISO); None stays None."""
    return notices.local_iso(datetime.fromisoformat(utc)) if isinstance(utc, str) else None


def _notice(ctx: Context, kind: str, content: dict[str, Any]) -> None:
    notice = notices.issue(ctx.session, ctx.dossier, kind, history_seq=ctx.seq, at=ctx.now, by=ctx.actor,
                           content=content)
    ctx.details.setdefault("notices", []).append({"kind": kind, "id": str(notice.id)})


SIMPLE = {"start_clock": start_clock, "pause_clock": pause_clock, "resume_clock": resume_clock, "finish": finish,
          "complete_processing": complete_processing, "reschedule": reschedule, "verify_result": verify_result}


async def run(ctx: Context, effect: Effect) -> None:
    if isinstance(effect, str):
        await SIMPLE[effect](ctx)
    elif isinstance(effect, NoticeEffect):
        _notice(ctx, effect.notice, await _notice_content(ctx, effect.notice))
    elif isinstance(effect, ObligationEffect):
        await obligation(ctx, effect.obligation)
    elif isinstance(effect, StepEffect):
        await (step(ctx, effect.named) if effect.named else close_under_way(ctx))
