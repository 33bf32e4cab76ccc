"""Workflow definitions are data (YAML under definitions/), validated by this schema at start-up.

A definition lists states (each with its national status code, Circular 22/2019/TT-BTTTT) and actions (the
states they leave from, the state they reach, who may take them, what they require, which guards must hold,
which effects follow). `$previous` returns to the state held before the current one (after a supplement);
`$same` keeps the state (sub-steps and apologies are recorded without a state change). A step effect names the
step of the process control slip the action completes; `{step: $under_way}` completes whichever step is under
way, under its own name (an action that ends the process from any step, e.g. a stop).
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.core.problems import ProblemError
from app.dossiers.models import NATIONAL_STATUS_CODES

DEFINITIONS_DIR = Path(__file__).with_name("definitions")

Requirement = Literal["reason", "items", "new_due_date", "attachments", "assignee", "delivery"]
Guard = Literal["fees_before_processing_settled", "has_fees_before_processing", "fees_on_result_settled",
                "approved", "has_due_date", "filed_offline"]
SimpleEffect = Literal["start_clock", "pause_clock", "resume_clock", "finish", "complete_processing",
                       "reschedule", "verify_result"]
NoticeKind = Literal["receipt", "supplement_request", "refusal", "payment_request", "apology", "explanation",
                     "result", "returned", "stop"]
SAME = "$same"
PREVIOUS = "$previous"
UNDER_WAY = "$under_way"


class NoticeEffect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    notice: NoticeKind


class ObligationEffect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    obligation: Literal["before_processing", "on_result"]


class StepEffect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    step: str

    @field_validator("step")
    @classmethod
    def _known_placeholder(cls, step: str) -> str:
        if step.startswith("$") and step != UNDER_WAY:
            raise ValueError(f"a step is named, or is {UNDER_WAY!r}")
        return step

    @property
    def named(self) -> str | None:
        """The step's own name; None for `$under_way` (the name is the step's that is under way)."""
        return None if self.step == UNDER_WAY else self.step


Effect = SimpleEffect | NoticeEffect | ObligationEffect | StepEffect


class StateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    national_code: int = Field(ge=1, le=10)
    label: str
    terminal: bool = False


class ActionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_states: tuple[str, ...] = Field(alias="from", min_length=1)
    to: str
    roles: tuple[str, ...] = ()
    applicant: bool = False
    system: bool = False
    # Taken by the system in the same transaction as the action that leaves the dossier in one of its `from`
    # states, when its guards already hold (e.g. `confirm_payment` once every fee line was exempted).
    automatic: bool = False
    requires: tuple[Requirement, ...] = ()
    guards: tuple[Guard, ...] = ()
    effects: tuple[Effect, ...] = ()

    @model_validator(mode="after")
    def _someone_may_act(self) -> ActionSpec:
        if not (self.roles or self.applicant or self.system):
            raise ValueError("an action needs roles, applicant or system")
        if self.automatic and not (self.system and self.guards):
            raise ValueError("an automatic action must be a system action with guards")
        return self

    def notices(self) -> list[str]:
        return [e.notice for e in self.effects if isinstance(e, NoticeEffect)]

    def has_effect(self, name: str) -> bool:
        return name in self.effects


class WorkflowDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    title: str
    initial: str
    states: dict[str, StateSpec]
    actions: dict[str, ActionSpec]

    @field_validator("states")
    @classmethod
    def _codes_unique(cls, states: dict[str, StateSpec]) -> dict[str, StateSpec]:
        codes = [s.national_code for s in states.values()]
        if len(codes) != len(set(codes)):
            raise ValueError("each state needs its own national code")
        # The states are the dossier's (its column, the list's `state` filter, the counters) and each code is
        # the one Circular 22 gives that state: a definition cannot invent either.
        wrong = {name: NATIONAL_STATUS_CODES.get(name) for name, spec in states.items()
                 if NATIONAL_STATUS_CODES.get(name) != spec.national_code}
        if wrong:
            raise ValueError(f"states with no national code or another one (expected: {wrong})")
        return states

    @model_validator(mode="after")
    def _well_formed(self) -> WorkflowDefinition:
        known = set(self.states)
        if self.initial not in known:
            raise ValueError(f"initial state {self.initial!r} is not a state")
        for name, action in self.actions.items():
            unknown = [s for s in action.from_states if s not in known]
            if action.to not in known | {SAME, PREVIOUS}:
                unknown.append(action.to)
            if unknown:
                raise ValueError(f"action {name!r} names unknown states {unknown}")
            leaving_terminal = [s for s in action.from_states if self.states[s].terminal]
            if leaving_terminal:
                raise ValueError(f"action {name!r} leaves terminal states {leaving_terminal}")
        unreachable = known - self._reachable()
        if unreachable:
            raise ValueError(f"states not reachable from {self.initial!r}: {sorted(unreachable)}")
        dead_ends = [s for s, spec in self.states.items()
                     if not spec.terminal and not any(s in a.from_states for a in self.actions.values())]
        if dead_ends:
            raise ValueError(f"non-terminal states with no way out: {dead_ends}")
        return self

    def _reachable(self) -> set[str]:
        seen, queue = {self.initial}, deque([self.initial])
        while queue:
            state = queue.popleft()
            for action in self.actions.values():
                if state not in action.from_states:
                    continue
                targets = {state} if action.to == SAME else (set(action.from_states) if action.to == PREVIOUS
                                                             else {action.to})
                if action.to == PREVIOUS:  # a return goes back to any state the request could come from
                    targets = {s for a in self.actions.values() if state == a.to for s in a.from_states}
                for target in targets - seen:
                    seen.add(target)
                    queue.append(target)
        return seen

    @property
    def step_names(self) -> frozenset[str]:
        """The internal process steps its actions record (what a version's step_time_limits may name)."""
        return frozenset(effect.step for action in self.actions.values() for effect in action.effects
                         if isinstance(effect, StepEffect) and effect.named)

    def national_code(self, state: str) -> int:
        return self.states[state].national_code


def load_definition(path: Path) -> WorkflowDefinition:
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    return WorkflowDefinition.model_validate(data)


@lru_cache
def definitions() -> dict[str, WorkflowDefinition]:
    """Every shipped definition, validated; a broken one stops the service at start-up."""
    loaded = [load_definition(p) for p in sorted(DEFINITIONS_DIR.glob("*.yaml"))]
    return {d.key: d for d in loaded}


def get_definition(key: str) -> WorkflowDefinition:
    """The definition a procedure version names. Versions are checked against the shipped keys when they are
    written, but a deployment may stop shipping a definition that older versions still name: their dossiers
    then answer 409 `workflow_unavailable` to every action instead of failing."""
    try:
        return definitions()[key]
    except KeyError:
        raise ProblemError("workflow_unavailable", f"This dossier's procedure follows the workflow {key!r}, which "
                           "this deployment does not ship; no action can be taken until an administrator "
                           "restores it.", extra={"workflow": key}) from None
