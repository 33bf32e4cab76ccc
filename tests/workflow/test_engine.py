"""The engine and the shipped definitions, without a database."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from app.core.problems import ProblemError
from app.workflow.definition import WorkflowDefinition, definitions, load_definition
from app.workflow.engine import ActorView, TransitionRequest, next_actions, plan

STANDARD = definitions()["standard"]
RECEPTION = ActorView(roles=frozenset({"reception"}))
APPLICANT = ActorView(is_applicant=True)
ALL_GUARDS = {g: True for g in ("fees_before_processing_settled", "has_fees_before_processing",
                                "fees_on_result_settled", "approved", "has_due_date")}

NATIONAL_CODES = {"submitted": 1, "received": 2, "rejected": 3, "processing": 4, "supplement_requested": 5,
                  "payment_requested": 6, "withdrawn": 7, "stopped": 8, "processed": 9, "returned": 10}


def test_both_definitions_ship_and_differ() -> None:
    assert set(definitions()) >= {"standard", "no_fee"}
    assert "request_payment" in STANDARD.actions
    assert "request_payment" not in definitions()["no_fee"].actions


def test_the_steps_a_version_may_give_an_allowance_are_named_ones() -> None:
    # A stop ends whichever step is under way (`{step: $under_way}`): no allowance can be given to the placeholder.
    for definition in definitions().values():
        assert definition.step_names == {"reception", "assign", "appraise", "approve", "issue_result",
                                         "return_result"}


def test_every_state_maps_to_its_national_code() -> None:
    for definition in definitions().values():
        for state, spec in definition.states.items():
            assert spec.national_code == NATIONAL_CODES[state]


def test_receive_moves_submitted_to_received() -> None:
    result = plan(STANDARD, state="submitted", previous_state=None, request=TransitionRequest("receive"),
                  actor=RECEPTION, guards=ALL_GUARDS)
    assert (result.to_state, result.from_code, result.to_code) == ("received", 1, 2)


def test_action_from_wrong_state_lists_what_this_actor_may_take() -> None:
    with pytest.raises(ProblemError) as caught:
        plan(STANDARD, state="received", previous_state=None, request=TransitionRequest("receive"),
             actor=RECEPTION, guards=ALL_GUARDS)
    assert caught.value.code == "transition_not_allowed"
    # Not `withdraw` (the applicant's) nor `apologise` (processing roles'): the same list as next_actions.
    # `withdraw_on_request` for a dossier filed offline (every guard holds here).
    assert caught.value.extra["allowed_actions"] == ["request_supplement", "assign",  # type: ignore[index]
                                                     "withdraw_on_request"]


def test_a_failed_guard_does_not_list_the_refused_action() -> None:
    approval = ActorView(roles=frozenset({"approval"}))
    with pytest.raises(ProblemError) as caught:
        plan(STANDARD, state="processing", previous_state=None,
             request=TransitionRequest("issue_result", attachments=(uuid.uuid4(),)), actor=approval,
             guards={"approved": False})
    assert caught.value.extra == {"guard": "approved",
                                  "allowed_actions": ["approve", "stop", "apologise"]}


def test_wrong_role_is_forbidden() -> None:
    with pytest.raises(ProblemError) as caught:
        plan(STANDARD, state="submitted", previous_state=None, request=TransitionRequest("receive"),
             actor=APPLICANT, guards=ALL_GUARDS)
    assert caught.value.code == "forbidden_role"


def test_requirements_are_listed() -> None:
    with pytest.raises(ProblemError) as caught:
        plan(STANDARD, state="received", previous_state=None,
             request=TransitionRequest("apologise"), actor=ActorView(roles=frozenset({"processing"})),
             guards=ALL_GUARDS)
    assert caught.value.code == "validation_error"
    assert [e["loc"] for e in caught.value.errors or []] == [["body", "reason"], ["body", "new_due_date"]]


def test_unsettled_fees_block_receive_and_return() -> None:
    guards = {**ALL_GUARDS, "fees_before_processing_settled": False}
    with pytest.raises(ProblemError) as caught:
        plan(STANDARD, state="submitted", previous_state=None, request=TransitionRequest("receive"),
             actor=RECEPTION, guards=guards)
    assert caught.value.code == "fees_unpaid"


def test_supplement_returns_to_the_previous_state() -> None:
    request = TransitionRequest("supplement", attachments=(uuid.uuid4(),))
    result = plan(STANDARD, state="supplement_requested", previous_state="processing", request=request,
                  actor=APPLICANT, guards=ALL_GUARDS)
    assert result.to_state == "processing" and result.to_code == 4


def test_apology_keeps_the_state() -> None:
    request = TransitionRequest("apologise", reason="workload", new_due_date=date(2025, 3, 3))
    result = plan(STANDARD, state="processing", previous_state=None, request=request,
                  actor=ActorView(roles=frozenset({"processing"})), guards=ALL_GUARDS)
    assert result.to_state == "processing"


def test_next_actions_depend_on_actor_and_guards() -> None:
    assert next_actions(STANDARD, "submitted", APPLICANT) == ["withdraw"]
    reception = next_actions(STANDARD, "submitted", RECEPTION, {"fees_before_processing_settled": False})
    assert "receive" not in reception and "request_payment" in reception


def test_terminal_states_have_no_way_out() -> None:
    for definition in definitions().values():
        for state, spec in definition.states.items():
            if spec.terminal:
                assert next_actions(definition, state, ActorView(roles=frozenset({"reception", "processing",
                                    "approval", "finance"}), is_applicant=True, is_system=True)) == []


def _broken(tmp_path: Path, mutate) -> WorkflowDefinition:  # type: ignore[no-untyped-def]
    source = Path(__file__).resolve().parents[2] / "app/workflow/definitions/standard.yaml"
    data = yaml.safe_load(source.read_text())
    mutate(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_definition(path)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["actions"].update(reopen={"from": ["returned"], "to": "processing", "roles": ["reception"]}),
     "terminal"),
    (lambda d: d["states"].update(limbo={"national_code": 10, "label": "x"}), "national code"),
    (lambda d: d["states"].update(limbo={"national_code": 11, "label": "x"}), "less than or equal"),
    (lambda d: d["states"]["processed"].update(national_code=10) or d["states"]["returned"].update(national_code=9),
     "another one"),
    (lambda d: d["actions"].pop("stop"), "not reachable"),
    (lambda d: d["states"]["processed"].update(terminal=False) or d["actions"].pop("return_result"),
     "not reachable"),
    (lambda d: d["actions"]["receive"].update(automatic=True), "automatic action must be a system action"),
    (lambda d: d["actions"]["confirm_payment"].update(guards=[]), "automatic action must be a system action"),
    (lambda d: d["actions"]["stop"].update(effects=[{"step": "$under_wey"}, "finish"]), "is '\\$under_way'"),
])
def test_broken_definitions_are_refused(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        _broken(tmp_path, mutate)


def test_a_broken_definition_stops_the_service_before_it_serves(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 7: definitions are checked at start-up. Loaded lazily, a broken one only surfaced as a 500 on the
    # first dossier read after the service had reported ready.
    from app.main import create_app
    from app.workflow import definition

    source = Path(__file__).resolve().parents[2] / "app/workflow/definitions/standard.yaml"
    data = yaml.safe_load(source.read_text())
    data["actions"].pop("stop")
    (tmp_path / "standard.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setattr(definition, "DEFINITIONS_DIR", tmp_path)
    definition.definitions.cache_clear()
    try:
        with pytest.raises(ValidationError, match="not reachable"):
            create_app()
    finally:
        monkeypatch.undo()
        definition.definitions.cache_clear()
    assert "standard" in definition.definitions()
