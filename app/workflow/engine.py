"""The one small engine that interprets a workflow definition. Pure: no database, no HTTP.

The service gathers facts (who acts, which guards hold) and persists the plan; all state logic lives here
and in the YAML definitions, never in endpoints.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from app.core.problems import ProblemError
from app.workflow.definition import PREVIOUS, SAME, ActionSpec, Effect, WorkflowDefinition

# What a failed guard answers: a stable problem code and an explanation.
GUARD_PROBLEMS: dict[str, tuple[str, str]] = {
    "fees_before_processing_settled": (
        "fees_unpaid", "Fees due before processing are not settled; take request_payment first (step 2.3)."),
    "has_fees_before_processing": (
        "transition_not_allowed", "This procedure charges no fees before processing; receive the dossier."),
    "fees_on_result_settled": ("fees_unpaid", "Fees due on the result are not settled yet."),
    "approved": ("transition_not_allowed", "The result can be issued only after the dossier is approved."),
    "has_due_date": (
        "transition_not_allowed", "An apology sets a new return date; this dossier has no due date yet (its "
        "processing clock has not started)."),
    "filed_offline": ("transition_not_allowed", "Only a dossier filed at the desk or by post is withdrawn on the "
                      "applicant's written request; the applicant of an online dossier withdraws it."),
}


@dataclass(frozen=True)
class ActorView:
    """Who is acting, as far as this dossier is concerned."""

    is_applicant: bool = False  # the applicant or its authorised representative
    roles: frozenset[str] = frozenset()  # official roles that apply at the dossier's agency
    is_system: bool = False


@dataclass(frozen=True)
class TransitionRequest:
    action: str
    reason: str | None = None
    items: tuple[str, ...] = ()
    new_due_date: date | None = None
    attachments: tuple[uuid.UUID, ...] = ()
    assignee: uuid.UUID | None = None
    delivery: str | None = None  # how a result goes back: online, desk or post


@dataclass(frozen=True)
class Plan:
    action: str
    from_state: str
    to_state: str
    from_code: int
    to_code: int
    effects: tuple[Effect, ...] = field(default_factory=tuple)
    spec: ActionSpec | None = None


def may_take(spec: ActionSpec, actor: ActorView) -> bool:
    return ((spec.applicant and actor.is_applicant) or (spec.system and actor.is_system)
            or bool(set(spec.roles) & actor.roles))


def actions_from(definition: WorkflowDefinition, state: str) -> list[str]:
    return [name for name, spec in definition.actions.items() if state in spec.from_states]


def next_actions(definition: WorkflowDefinition, state: str, actor: ActorView,
                 guards: Mapping[str, bool] | None = None) -> list[str]:
    """The actions this actor may take now (guards that are known to fail are left out)."""
    facts = guards or {}
    return [name for name in actions_from(definition, state)
            if may_take(definition.actions[name], actor)
            and all(facts.get(g, True) for g in definition.actions[name].guards)]


def _missing_requirements(spec: ActionSpec, request: TransitionRequest) -> list[dict[str, object]]:
    present = {
        "reason": bool(request.reason and request.reason.strip()),
        "items": bool(request.items) and all(i.strip() for i in request.items),
        "new_due_date": request.new_due_date is not None,
        "attachments": bool(request.attachments),
        "assignee": request.assignee is not None,
        "delivery": request.delivery is not None,
    }
    return [{"loc": ["body", name], "msg": f"required by action {spec_name}"}
            for name in spec.requires if not present[name] for spec_name in [request.action]]


def plan(definition: WorkflowDefinition, *, state: str, previous_state: str | None, request: TransitionRequest,
         actor: ActorView, guards: Mapping[str, bool]) -> Plan:
    """Check an action against the definition and return what it does, or raise the matching problem.

    A refusal lists `allowed_actions` as far as `guards` tell (those not given count as holding); the
    service, which can evaluate every guard, replaces the list with the caller's `next_actions`.
    """
    spec = definition.actions.get(request.action)
    if spec is None or state not in spec.from_states:
        raise ProblemError("transition_not_allowed",
                           f"Action {request.action!r} is not allowed from state {state!r}.",
                           extra={"state": state, "allowed_actions": next_actions(definition, state, actor, guards)})
    if not may_take(spec, actor):
        raise ProblemError("forbidden_role", f"Your role may not take action {request.action!r}.",
                           extra={"required_roles": list(spec.roles), "applicant": spec.applicant})
    missing = _missing_requirements(spec, request)
    if missing:
        raise ProblemError("validation_error", "The action lacks required fields.", errors=missing)
    for guard in spec.guards:
        if not guards.get(guard, False):
            code, detail = GUARD_PROBLEMS[guard]
            allowed = next_actions(definition, state, actor, {**guards, guard: False})
            raise ProblemError(code, detail, extra={"guard": guard, "allowed_actions": allowed})
    if spec.to == SAME:
        target = state
    elif spec.to == PREVIOUS:
        if previous_state is None or previous_state not in definition.states:
            raise ProblemError("transition_not_allowed", "There is no state to return to.")
        target = previous_state
    else:
        target = spec.to
    return Plan(action=request.action, from_state=state, to_state=target,
                from_code=definition.national_code(state), to_code=definition.national_code(target),
                effects=spec.effects, spec=spec)
