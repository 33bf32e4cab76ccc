"""What the workflow state machine (test_workflow_state_machine.py) found, each reduced to a small,
deterministic test that failed before its fix. A bug found and not fixed yet goes here as a strict xfail, and
the machine excludes just that case until the fix lands.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from app.core import clock
from app.core.clock import LOCAL_TZ
from tests.support.workflow_fixtures import Flow
from tests.workflow.workflow_model import MovingClock

MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=LOCAL_TZ)

# A sub-step (appraise, approve) changes no dossier column but its version. Applied at the same clock reading as the
# dossier's last write, it bumped neither the version nor the ETag though the history grew: assigning
# `updated_at` the value the row already held was no change to SQLAlchemy, so no versioned UPDATE was issued. In
# production it needs two writes on one clock reading; under the fixed clock the tests use it is certain.


async def _in_processing_on_a_stopped_clock(flow: Flow, monkeypatch: pytest.MonkeyPatch) -> str:
    """A dossier in processing, with the clock stopped: every later write happens at the same clock reading."""
    monkeypatch.setattr(clock, "now", MovingClock(MONDAY).now)
    code = await flow.procedure(processing_days=5)
    _, dossier = await flow.submitted(code)
    await flow.to_processing(dossier["id"])
    return str(dossier["id"])


async def test_a_sub_step_at_the_instant_of_the_last_change_moves_the_etag(flow: Flow,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    did = await _in_processing_on_a_stopped_clock(flow, monkeypatch)
    first = await flow.act(flow.processing, did, "appraise")
    second = await flow.post(flow.processing, did, "appraise", etag=f'"{first["version"]}"')
    assert second.status_code == 200, second.text
    assert [e["action"] for e in await flow.history(flow.processing, did)][-2:] == ["appraise", "appraise"]
    assert second.headers["etag"] != f'"{first["version"]}"'


async def test_an_etag_read_before_a_same_instant_sub_step_is_stale(flow: Flow,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    did = await _in_processing_on_a_stopped_clock(flow, monkeypatch)
    read = await flow.act(flow.approval, did, "approve")  # the approval official reads the dossier as approved
    await flow.act(flow.processing, did, "appraise")  # a new appraisal: the approval no longer holds
    assert (await flow.get(flow.approval, did))["next_actions"] == ["approve", "stop", "apologise"]
    late = await flow.post(flow.approval, did, "stop", etag=f'"{read["version"]}"', reason="Hồ sơ giả mạo")
    assert late.status_code == 412, late.text  # an ETag read before the step is stale
