"""The transition flow: lock the dossier, check its ETag, plan with the engine, run the effects, record.

One transaction: the dossier row is locked (row lock on PostgreSQL; SQLite's write transaction is exclusive)
and its version is compared and bumped by the UPDATE (SQLAlchemy's version counter), so of many concurrent
transitions sent with the same ETag exactly one applies; the others answer 412 `precondition_failed`.
The history entry, step records, notices, fee obligation and the outbox event `dossier.status_changed` are
written in that same transaction.

Who may act (the engine's ActorView): the applicant of this dossier (or its representative); an official
only with the roles they hold at the dossier's own agency (a system administrator without roles there takes
no part in processing); the system (no principal) for `confirm_payment` called by the fees domain.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalogue.models import ProcedureVersion
from app.core import clock
from app.core.etag import check_if_match, flush_versioned
from app.core.outbox import emit
from app.core.problems import ProblemError
from app.dossiers.access import VISIBILITY_SHAPES, Viewer, visibility
from app.dossiers.models import Dossier
from app.identity.deps import Principal
from app.workflow import effects, history, notices, steps
from app.workflow.definition import ActionSpec, NoticeEffect, WorkflowDefinition, definitions, get_definition
from app.workflow.engine import ActorView, Plan, TransitionRequest, actions_from, may_take, next_actions, plan
from app.workflow.history import ActorRef
from app.workflow.hooks import Exemption, fee_gate
from app.workflow.models import DossierProgress
from app.workflow.progress import (
    FACT_COLUMNS,
    VersionFacts,
    ensure_progress,
    facts_from_row,
    pinned_version_of,
    version_facts,
)


@dataclass(frozen=True)
class TransitionInput:
    request: TransitionRequest
    tracking_number: str | None = None
    exemptions: list[Exemption] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    dossier: Dossier
    progress: DossierProgress
    next_actions: list[str]


def actor_view(principal: Principal | None, applicant_id: uuid.UUID | None, dossier: Dossier) -> ActorView:
    if principal is None:
        return ActorView(is_system=True)
    if principal.is_applicant:
        return ActorView(is_applicant=dossier.applicant_id is not None and dossier.applicant_id == applicant_id)
    if principal.kind == "official" and principal.agency_code == dossier.agency_code:
        return ActorView(roles=principal.roles)
    return ActorView()


async def guard_facts(session: AsyncSession, dossier: Dossier, progress: DossierProgress | None,
                      names: Iterable[str]) -> dict[str, bool]:
    """Evaluate only the guards asked for (fee guards ask the fees domain through the FeeGate seam)."""
    facts: dict[str, bool] = {}
    for name in set(names):
        if name == "fees_before_processing_settled":
            facts[name] = await fee_gate().settled(session, dossier, "before_processing")
        elif name == "has_fees_before_processing":
            facts[name] = await fee_gate().has_fees(session, dossier, "before_processing")
        elif name == "fees_on_result_settled":
            facts[name] = await fee_gate().settled(session, dossier, "on_result")
        elif name == "approved":
            facts[name] = bool(progress and progress.approved)
        elif name == "filed_offline":
            facts[name] = dossier.channel != "online"
        elif name == "has_due_date":
            facts[name] = dossier.due_at is not None
    return facts


async def available_actions(session: AsyncSession, definition: WorkflowDefinition, dossier: Dossier,
                            progress: DossierProgress | None, view: ActorView) -> list[str]:
    """The actions this actor may take now, guards evaluated (only those of actions it could take)."""
    candidates = [definition.actions[a] for a in actions_from(definition, dossier.state)]
    needed = {g for spec in candidates if may_take(spec, view) for g in spec.guards}
    return next_actions(definition, dossier.state, view, await guard_facts(session, dossier, progress, needed))


@dataclass(frozen=True)
class Locked:
    dossier: Dossier
    progress: DossierProgress | None
    facts: VersionFacts


def _lock_statement(shape: str | None, with_progress: bool) -> Select[Any]:
    stmt = select(Dossier, *FACT_COLUMNS).join(ProcedureVersion, pinned_version_of(Dossier))
    if with_progress:
        stmt = stmt.add_columns(DossierProgress).join(DossierProgress, DossierProgress.dossier_id == Dossier.id)
    stmt = (stmt.where(Dossier.id == bindparam("dossier_id"))
            .with_for_update(of=[Dossier, DossierProgress] if with_progress else [Dossier])
            .execution_options(populate_existing=True))
    return stmt if shape is None else stmt.where(VISIBILITY_SHAPES[shape])


# Built once per (visibility shape, with the progress row): see app.dossiers.access.
_LOCK_STATEMENTS = {(shape, with_progress): _lock_statement(shape, with_progress)
                    for shape in (None, *VISIBILITY_SHAPES) for with_progress in (True, False)}


async def _lock(session: AsyncSession, dossier_id: uuid.UUID, viewer: Viewer | None) -> Locked:
    """The dossier (visible to `viewer`, else 404), locked, with its progress row and its version's facts:
    one statement, so the lock is held for as few round trips as possible."""
    shape, values = visibility(viewer) if viewer is not None else (None, {})
    # Both rows are locked: under READ COMMITTED a waiter re-reads only the rows it locks once the lock
    # is free, so an unlocked joined progress row would be the stale one (and the history seq collide).
    for with_progress in (True, False):
        stmt = _LOCK_STATEMENTS[(shape, with_progress)]
        row = (await session.execute(stmt, {"dossier_id": dossier_id, **values})).one_or_none()
        if row is not None:  # (a dossier without a progress row predates the workflow: the second pass)
            return Locked(row[0], row[-1] if with_progress else None, facts_from_row(row))
    raise ProblemError("not_found", "The dossier does not exist or is not visible to you.")


async def transition(session: AsyncSession, viewer: Viewer, dossier_id: uuid.UUID, data: TransitionInput,
                     if_match: str | None) -> Outcome:
    """POST /v1/dossiers/{id}/transitions: one action by the caller, If-Match required."""
    locked = await _lock(session, dossier_id, viewer)
    check_if_match(locked.dossier.version, if_match, "dossier")
    view = actor_view(viewer.principal, viewer.applicant_id, locked.dossier)
    outcome = await _apply(session, locked, data, view, ActorRef.of(viewer.principal))
    definition = get_definition(locked.facts.workflow)
    automatic = await _automatic_action(session, definition, outcome)
    if automatic is None:
        return outcome
    followed = await _apply_system(session, dossier_id, automatic, {"automatic": True})
    return Outcome(dossier=followed.dossier, progress=followed.progress, next_actions=await available_actions(
        session, definition, followed.dossier, followed.progress, view))


async def _automatic_action(session: AsyncSession, definition: WorkflowDefinition, outcome: Outcome) -> str | None:
    """The definition's automatic action out of the new state whose guards already hold, if any."""
    for name in actions_from(definition, outcome.dossier.state):
        spec = definition.actions[name]
        if spec.automatic:
            facts = await guard_facts(session, outcome.dossier, outcome.progress, spec.guards)
            if all(facts.get(guard, False) for guard in spec.guards):
                return name
    return None


async def apply_system_action(session: AsyncSession, dossier_id: uuid.UUID, action: str, *,
                              details: dict[str, Any] | None = None) -> Dossier:
    """An action taken by the service itself (e.g. `confirm_payment` once the fees are paid), in the caller's
    transaction. Raises the same problems as an HTTP transition (409 `transition_not_allowed`, `fees_unpaid`)."""
    return (await _apply_system(session, dossier_id, action, details)).dossier


async def _apply_system(session: AsyncSession, dossier_id: uuid.UUID, action: str,
                        details: dict[str, Any] | None) -> Outcome:
    locked = await _lock(session, dossier_id, None)
    return await _apply(session, locked, TransitionInput(TransitionRequest(action)), ActorView(is_system=True),
                        ActorRef.of(None), extra_details=details)


async def _plan(session: AsyncSession, definition: WorkflowDefinition, dossier: Dossier, progress: DossierProgress,
                request: TransitionRequest, view: ActorView) -> Plan:
    """The engine's plan. Only the requested action's guards are evaluated first (what a transition needs);
    a refusal's `allowed_actions` are then recomputed with every guard."""
    spec = definition.actions.get(request.action)
    needed = spec.guards if spec and dossier.state in spec.from_states and may_take(spec, view) else ()
    guards = await guard_facts(session, dossier, progress, needed)
    try:
        return plan(definition, state=dossier.state, previous_state=progress.previous_state, request=request,
                    actor=view, guards=guards)
    except ProblemError as error:
        if error.extra is not None and "allowed_actions" in error.extra:
            # The engine saw only this action's guards; a refusal lists what the caller may take now, every
            # guard evaluated: the same list as the dossier's next_actions.
            error.extra["allowed_actions"] = await available_actions(session, definition, dossier, progress,
                                                                     view)
        raise


async def _apply(session: AsyncSession, locked: Locked, data: TransitionInput, view: ActorView, actor: ActorRef,
                 extra_details: dict[str, Any] | None = None) -> Outcome:
    now = clock.now()
    dossier, facts = locked.dossier, locked.facts
    definition = get_definition(facts.workflow)
    progress = ensure_progress(session, dossier, locked.progress)
    request = data.request
    planned = await _plan(session, definition, dossier, progress, request, view)
    seq = progress.history_seq + 1
    ctx = effects.Context(session=session, dossier=dossier, progress=progress, facts=facts, plan=planned,
                          request=request, actor=actor, now=now, seq=seq, tracking_number=data.tracking_number,
                          exemptions=list(data.exemptions))
    with session.no_autoflush:  # one UPDATE of the dossier per transition, so its version moves by one
        for effect in planned.effects:
            await effects.run(ctx, effect)
    if planned.to_state != planned.from_state:
        progress.previous_state = planned.from_state
    dossier.state = planned.to_state
    dossier.national_status_code = planned.to_code
    with session.no_autoflush:
        closed = ctx.details.get("step")
        await steps.begin_next_step(session, progress, definition=definition, state=planned.to_state, facts=facts,
                                    closed=closed["step"] if isinstance(closed, dict) else None)
    dossier.touch(now)  # every transition bumps the version (and so the ETag), sub-steps included
    details = {**ctx.details, **_request_details(data, planned.spec), **(extra_details or {})}
    entry = history.append(session, progress, dossier_id=dossier.id, action=request.action,
                           from_state=planned.from_state,
                           to_state=planned.to_state, from_code=planned.from_code, to_code=planned.to_code,
                           actor=actor, at=now, reason=request.reason, details=details)
    await emit(session, "dossier.status_changed", aggregate_type="dossier", aggregate_id=dossier.id, payload={
        "dossier_id": str(dossier.id), "code": dossier.code, "action": request.action,
        "from": planned.from_state, "to": planned.to_state, "national_status_code": planned.to_code,
        "at": clock.utc_text(now), "agency_code": dossier.agency_code, "procedure_code": dossier.procedure_code,
        "due_at": clock.utc_text(dossier.due_at), "history_seq": entry.seq})
    # One flush: the dossier's UPDATE ... WHERE version = <read version>, history, steps, the event (412 when
    # another transaction changed the dossier first).
    await flush_versioned(session, dossier, "dossier")
    allowed = [] if view.is_system else await available_actions(session, definition, dossier, progress, view)
    return Outcome(dossier=dossier, progress=progress, next_actions=allowed)


def _request_details(data: TransitionInput, spec: ActionSpec | None) -> dict[str, Any]:
    """The request fields the action requires: a stray field (a new date sent with `receive`) was not used,
    so the history must not say it was."""
    request, requires = data.request, spec.requires if spec else ()
    details: dict[str, Any] = {}
    if "new_due_date" in requires and request.new_due_date:
        details["new_due_date"] = request.new_due_date.isoformat()
    if "delivery" in requires and request.delivery:
        details["delivery"] = {"method": request.delivery, "tracking_number": data.tracking_number}
    if request.items and ("items" in requires or _lists_reasons(spec)):
        details["items"] = list(request.items)
    return details


def _lists_reasons(spec: ActionSpec | None) -> bool:
    """A refusal or stop notice lists the items sent as further reasons (effects._notice_content)."""
    return spec is not None and any(isinstance(effect, NoticeEffect) and effect.notice in notices.REASON_NOTICES
                                    for effect in spec.effects)


async def dossier_workflow_view(session: AsyncSession, viewer: Viewer, dossier: Dossier) -> dict[str, Any]:
    """The workflow fields of GET /v1/dossiers/{id}: next_actions (this caller's), original due date, pause."""
    progress = await session.get(DossierProgress, dossier.id)
    return await _workflow_view(session, viewer, dossier, progress, None)


async def submitted_workflow_view(session: AsyncSession, viewer: Viewer, dossier: Dossier,
                                  version: ProcedureVersion) -> dict[str, Any]:
    """The same fields for a dossier just submitted, from what the submission holds (its pinned version; a fresh
    progress row: no pause, no due date yet) instead of reading them again."""
    return await _workflow_view(session, viewer, dossier, None, facts_from_row(version))


async def _workflow_view(session: AsyncSession, viewer: Viewer, dossier: Dossier, progress: DossierProgress | None,
                         facts: VersionFacts | None) -> dict[str, Any]:
    from app.workflow.progress import is_late, is_overdue

    now = clock.now()
    actions: list[str] = []
    if dossier.state != "draft":
        facts = facts or await version_facts(session, dossier)
        if facts.workflow in definitions():  # (else no action can be taken: see get_definition)
            view = actor_view(viewer.principal, viewer.applicant_id, dossier)
            actions = await available_actions(session, get_definition(facts.workflow), dossier, progress, view)
    return {"next_actions": actions, "original_due_at": progress.original_due_at if progress else None,
            "paused_working_days": progress.paused_working_days if progress else 0,
            "overdue": is_overdue(dossier, now, paused_at=progress.paused_at if progress else None),
            "late": is_late(dossier, now, original_due_at=progress.original_due_at if progress else None,
                            late_since=progress.late_since if progress else None,
                            paused_at=progress.paused_at if progress else None)}
