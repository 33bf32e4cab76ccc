"""The contract fuzz again, deep: every operation against a realistic world (tests/support/contract_world.py), its
path parameters, and where it helps its query parameters, If-Match and body references, drawn from that world's
real ids, and called as the party the operation is for. The random-id runs (test_schemathesis*.py) mostly see 404
and 422; this one reaches the handlers' insides.

Same checks: no 5xx, documented statuses and media types, schema-conforming bodies (and the problem-code contract
of tests/support/problem_contract.py). The world is built once for the module; at its end the run prints how many
operations answered at least one 2xx, and the ones that never did, with why (NEVER_2XX), and fails when an
operation outside NEVER_2XX never did (only when every operation ran: `-k` runs report without judging).

Examples per operation: SCHEMATHESIS_SEEDED_MAX_EXAMPLES, else SCHEMATHESIS_MAX_EXAMPLES (`make fuzz`), else 5
(about 45 s on either database, the world included).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode, checks  # noqa: E402

from tests.support.contract_world import AGENCY, ROOT_AGENCY, World, build_world, report_periods  # noqa: E402
from tests.support.dossier_fixtures import PDF  # noqa: E402
from tests.support.identity_fixtures import Accounts, Actor  # noqa: E402

_CHOSEN = os.environ.get("SCHEMATHESIS_SEEDED_MAX_EXAMPLES") or os.environ.get("SCHEMATHESIS_MAX_EXAMPLES")
MAX_EXAMPLES = int(_CHOSEN or "5")
# At the default count the examples are the same every run (the end-of-run check must not flicker in CI); a
# chosen count (`make fuzz`) explores afresh each time.
DERANDOMIZE = _CHOSEN is None
NEGATIVE = os.environ.get("SCHEMATHESIS_SEEDED_NEGATIVE", "1") != "0"  # also schema-breaking requests (half)
TRACE = bool(os.environ.get("SCHEMATHESIS_SEEDED_TRACE"))  # with -s: every answer that was not a 2xx
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]
METHODS = ("get", "put", "post", "patch", "delete")
SPEC = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text())
LABELS = [f"{method.upper()} {path}" for path, item in SPEC["paths"].items() for method in item if method in METHODS]

# Operations a generated request cannot (or only by luck) take to a 2xx, and why. Printed with the summary when they
# do not; every other operation must reach one.
NEVER_2XX: dict[str, str] = {
    "GET /v1/payments/providers/{provider}/callback":
        "the GET form is VNPAY's (signed query), not configured in tests; fakepay signs a POST body (401 otherwise)",
}

# Who calls each operation: an actor of the world, "anonymous", "newcomer" (a valid token not yet registered),
# "reader" (the applicant, an official of the agency or its integrator, drawn), "transition" (by action).
ACTOR_BY_LABEL: dict[str, str] = {
    "POST /v1/accounts": "newcomer",
    "POST /v1/dossiers": "citizen", "PATCH /v1/dossiers/{dossier_id}": "citizen",
    "DELETE /v1/dossiers/{dossier_id}": "citizen", "POST /v1/dossiers/{dossier_id}/submit": "citizen",
    "POST /v1/dossiers/{dossier_id}/attachments": "citizen",
    "DELETE /v1/dossiers/{dossier_id}/attachments/{attachment_id}": "citizen",
    "POST /v1/dossiers/{dossier_id}/payments": "citizen", "POST /v1/dossiers/{dossier_id}/rating": "citizen",
    "GET /v1/dossiers/{dossier_id}/notifications": "applicant_or_official",
    "POST /v1/dossiers/{dossier_id}/transitions": "transition",
    "POST /v1/dossiers/intake": "official", "POST /v1/dossiers/{dossier_id}/payments/counter": "official",
    "POST /v1/payments/{payment_id}/refunds": "official",
    "POST /v1/payments/{payment_id}/refunds/{refund_id}/resolution": "official",
    "POST /v1/integration/dossiers": "client",
    "GET /v1/agencies": "anonymous", "GET /v1/agencies/{code}": "anonymous", "GET /v1/fields": "anonymous",
    "GET /v1/fields/{code}": "anonymous", "GET /v1/procedures": "anonymous", "GET /v1/procedures/{code}": "anonymous",
    "GET /v1/procedures/{code}/versions": "anonymous", "GET /v1/calendar/working-days": "anonymous",
}
ACTOR_BY_PREFIX: list[tuple[str, str]] = [
    ("/v1/accounts/me", "organisation"), ("/v1/webhooks", "client"), ("/v1/dossiers", "reader"),
    ("/v1/payments/providers", "anonymous"), ("/v1/payments", "official"), ("/v1/public", "anonymous"),
    ("/healthz", "anonymous"), ("/readyz", "anonymous"), ("/v1", "admin"),
]
# Which world list a dossier_id is drawn from, when not any dossier past submission.
DOSSIERS_FOR: dict[str, str] = {
    "DELETE /v1/dossiers/{dossier_id}": "deletable", "PATCH /v1/dossiers/{dossier_id}": "draft",
    "POST /v1/dossiers/{dossier_id}/submit": "submittable", "POST /v1/dossiers/{dossier_id}/attachments": "draft",
    "DELETE /v1/dossiers/{dossier_id}/attachments/{attachment_id}": "attachment_draft",
    "POST /v1/dossiers/{dossier_id}/payments": "awaiting_online_payment",
    "POST /v1/dossiers/{dossier_id}/payments/counter": "awaiting_counter_payment",
    "POST /v1/dossiers/{dossier_id}/rating": "unrated", "GET /v1/dossiers/{dossier_id}/rating": "rated",
}
# Procedure versions: which procedure (and version) each catalogue action works on.
VERSIONS_FOR: dict[str, tuple[str, list[str]]] = {
    "PATCH /v1/procedures/{code}/versions/{n}": ("draft_procedure_patch", ["2"]),
    "POST /v1/procedures/{code}/versions/{n}/publish": ("draft_procedure_publish", ["2"]),
    "POST /v1/procedures/{code}/versions/{n}/cancel": ("draft_procedure_cancel", ["2"]),
    "DELETE /v1/procedures/{code}/versions/{n}": ("draft_procedure_delete", ["2"]),
    "POST /v1/procedures/{code}/versions/{n}/retire": ("retire_procedure", ["1"]),
    "GET /v1/procedures/{code}/versions/{n}": ("draft_procedure_patch", ["1", "2"]),
}
# Workflow actions that fit each state, and the fields they need.
ACTIONS_FOR: dict[str, list[str]] = {
    "submitted": ["receive", "reject", "request_supplement", "request_payment", "withdraw"],
    "payment_requested": ["withdraw"],
    "received": ["assign", "request_supplement", "withdraw", "apologise"],
    "processing": ["appraise", "approve", "request_supplement", "stop", "withdraw"],
    "supplement_requested": ["supplement", "withdraw"],
    "processed": ["return_result"],
}
APPLICANT_ACTIONS = {"withdraw", "supplement"}

REACHED: dict[str, set[int]] = {}


def actor_name(label: str) -> str:
    if label in ACTOR_BY_LABEL:
        return ACTOR_BY_LABEL[label]
    path = label.split(" ", 1)[1]
    return next(who for prefix, who in ACTOR_BY_PREFIX if path.startswith(prefix))


# --- the world, once for the module --------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
async def _clean_tables() -> AsyncIterator[None]:
    """Overrides tests/conftest.py's: the world lives for the module (emptied at its end, by `world`)."""
    yield


@pytest.fixture(scope="module")
async def world(app: Any, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    from app.core.settings import get_settings
    from app.fees.providers.fakepay import FakePayProvider
    from app.integration import ssrf
    from tests.conftest import IDP
    from tests.support.tables import empty_all_tables

    async def resolve(host: str, port: int) -> list[str]:  # no DNS in tests: every host is a public one
        return ["93.184.216.34"]

    # For the module: no DNS (every host is a public one); the national portal on (so a resync is accepted: only
    # the worker, not run here, would send); the fake provider not de-duplicating refunds (so a refund it never
    # answered waits for finance's resolution, as with VNPAY).
    real_resolve, idempotent = ssrf.resolve, FakePayProvider.refunds_idempotent
    ssrf.resolve = resolve  # type: ignore[assignment]
    FakePayProvider.refunds_idempotent = False
    portal = os.environ.get("DVC_NATIONAL_PORTAL_ENABLED")
    os.environ["DVC_NATIONAL_PORTAL_ENABLED"] = "true"
    get_settings.cache_clear()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            built = await build_world(http, Accounts(IDP))
        yield built
    finally:
        ssrf.resolve = real_resolve  # type: ignore[assignment]
        FakePayProvider.refunds_idempotent = idempotent
        if portal is None:
            del os.environ["DVC_NATIONAL_PORTAL_ENABLED"]
        else:
            os.environ["DVC_NATIONAL_PORTAL_ENABLED"] = portal
        get_settings.cache_clear()
        await empty_all_tables()
    _report(request)


@pytest.fixture(scope="module")
def seeded_schema(app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _report(request: pytest.FixtureRequest) -> None:
    reached = sorted(label for label, statuses in REACHED.items() if any(200 <= s < 300 for s in statuses))
    never = sorted(set(REACHED) - set(reached))
    lines = [f"seeded contract fuzz: {len(reached)} of {len(REACHED)} operations reached a 2xx "
             f"({MAX_EXAMPLES} examples each)"]
    lines += [f"  never 2xx: {label} {sorted(REACHED[label])}: {NEVER_2XX.get(label, 'UNEXPECTED')}"
              for label in never]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
    unexpected = [label for label in never if label not in NEVER_2XX]
    if len(REACHED) == len(LABELS) and unexpected:
        pytest.fail("operations that never reached a 2xx:\n" + "\n".join(lines), pytrace=False)


# --- drawing a case's real values --------------------------------------------------------------------------------

def _one(data: st.DataObject, values: list[str]) -> str:
    return data.draw(st.sampled_from(values))


def _mostly(data: st.DataObject) -> bool:
    """True nine times in ten: a real value most of the time, the generated one left in the mix."""
    return data.draw(st.integers(0, 9)) != 9


def _set_header(case: Any, name: str, value: str | None) -> None:
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != name.lower()}
    case.headers = headers if value is None else {**headers, name: value}


def _path_parameters(label: str, world: World, data: st.DataObject) -> dict[str, str]:
    path = label.split(" ", 1)[1]
    ids, chosen = world.ids, {}
    if "{dossier_id}" in path:
        chosen["dossier_id"] = _one(data, ids[DOSSIERS_FOR.get(label, "dossier")])
        if "{attachment_id}" in path:
            pool = ids["draft_attachment"] if label.startswith("DELETE") else ids.get(
                "attachment_of:" + chosen["dossier_id"], ids["random"])
            chosen["attachment_id"] = _one(data, pool)
        if "{notice_id}" in path:
            chosen["notice_id"] = _one(data, ids.get("notice_of:" + chosen["dossier_id"], ids["random"]))
    if label.endswith("/resolution"):  # a refund the provider never answered: finance resolves it
        chosen.update(payment_id=ids["stuck_payment"][0], refund_id=ids["stuck_refund"][0])
    if "{payment_id}" in path and "payment_id" not in chosen:
        chosen["payment_id"] = _one(data, ids["payment"] + ids["stuck_payment"])
    if "{refund_id}" in path and "refund_id" not in chosen:
        chosen["refund_id"] = _one(data, ids["refund"] if chosen["payment_id"] in ids["payment"] else
                                   ids["stuck_refund"])
    if "{webhook_id}" in path:
        chosen["webhook_id"] = ids["webhook"][1] if label.startswith("DELETE") else ids["webhook"][0]
        chosen["delivery_id"] = _one(data, ids.get("delivery_of:" + chosen["webhook_id"], ["1"]))
    if "{representative_id}" in path:
        chosen["representative_id"] = ids["representative"][1 if label.startswith("DELETE") else 0]
    for name, key in (("official_id", "official"), ("client_id", "client"), ("date", "override_date")):
        if "{" + name + "}" in path:
            chosen[name] = _one(data, ids[key])
    if "{provider}" in path:
        chosen["provider"] = "fakepay"
    if "{code}" in path:
        chosen.update(_code(label, path, world, data))
    return {name: value for name, value in chosen.items() if "{" + name + "}" in path}


def _code(label: str, path: str, world: World, data: st.DataObject) -> dict[str, str]:
    ids = world.ids
    if path.startswith("/v1/agencies"):
        return {"code": _one(data, world.agencies)}
    if path.startswith("/v1/fields"):
        return {"code": _one(data, ids["field"])}
    if path.startswith("/v1/public/dossiers"):
        return {"code": _one(data, ids["dossier_code"])}
    if label in VERSIONS_FOR:
        key, versions = VERSIONS_FOR[label]
        return {"code": _one(data, ids[key]), "n": _one(data, versions)}
    if path.endswith("/draft"):
        return {"code": _one(data, ids["draft_procedure_patch"])}
    return {"code": _one(data, ids["procedure"] + ids["draft_procedure_patch"])}


def _query(case: Any, world: World, data: st.DataObject) -> None:
    """References in the query made real (most of the time: the generated ones stay in the mix)."""
    query = case.query
    if not query:
        return
    real = {"agency": world.agencies, "parent": world.agencies, "agency_code": world.agencies,
            "procedure": world.ids["procedure"], "field": world.ids["field"], "period": report_periods(),
            "code": world.ids["dossier_code"]}
    for name, values in real.items():
        if name in query and _mostly(data):
            query[name] = _one(data, values)
    if "cursor" in query and _mostly(data):
        del query["cursor"]  # a generated cursor is a 422: let most cases past it


def _body(label: str, case: Any, world: World, actors: dict[str, Actor], data: st.DataObject) -> None:
    """References in a JSON body made real: the agency, field, procedure, assignee a request names."""
    body = case.body
    if not isinstance(body, dict):
        return
    real: dict[str, list[str]] = {
        "procedure_code": world.ids["procedure"], "agency_code": [AGENCY], "parent_code": [ROOT_AGENCY],
        "field_code": world.ids["field"], "assignee": [str(actors["official"].id)], "period": report_periods(),
        "provider": ["fakepay"], "return_url": ["https://portal.example/return"],
        "url": ["https://hooks.example.com/dvc"],
    }
    for name, values in real.items():
        if name in body and _mostly(data):
            body[name] = _one(data, values)
    if not _mostly(data):
        return
    if label == "POST /v1/accounts/me/representatives":
        body.update(citizen_id=_one(data, world.ids["citizen_id"]), name="Nguyễn Thị Hoa")
    if label in ("POST /v1/dossiers/intake", "POST /v1/integration/dossiers"):
        body["applicant"] = {"name": "Phạm Văn Nộp", "citizen_id": data.draw(st.from_regex(r"\A0[0-9]{11}\Z"))}
    if label == "POST /v1/integration/dossiers":
        body["attachments"] = [{"part": "application_form", "file_name": "don.pdf",
                                "content_base64": base64.b64encode(PDF).decode()}]
    if label == "POST /v1/webhooks" or (label == "PATCH /v1/webhooks/{webhook_id}" and "event_types" in body):
        body["event_types"] = ["dossier.submitted"]
    if label == "POST /v1/payments/{payment_id}/refunds":
        body.update(amount=1000, expected_available=_refundable(case, actors["official"]))
    if label == "POST /v1/dossiers/{dossier_id}/attachments":
        body["part"] = _one(data, ["application_form", "id_copy"])
        body["file"] = PDF


def _transition(case: Any, world: World, data: st.DataObject) -> str:
    """An action that fits the dossier's state (most of the time), with the fields it needs; who may take it."""
    body = case.body if isinstance(case.body, dict) else None
    fitting = ACTIONS_FOR.get(world.states.get(case.path_parameters["dossier_id"], ""), [])
    if body is None or not fitting or not _mostly(data):
        return "official"
    action = body["action"] = _one(data, fitting)
    needs: dict[str, dict[str, Any]] = {
        "reject": {"reason": "Không thuộc thẩm quyền"}, "stop": {"reason": "Người nộp đề nghị dừng"},
        "request_supplement": {"items": ["Bản sao có chứng thực"]}, "return_result": {"delivery": {"method": "desk"}},
        "assign": {"assignee": world.official_id()},
    }
    for name, value in needs.get(action, {}).items():
        body.setdefault(name, value)
        if not body[name]:
            body[name] = value
    return "citizen" if action in APPLICANT_ACTIONS else "official"


def _refundable(case: Any, official: Actor) -> int:
    """What the payment says is refundable now (a refund must name it: a stale figure is a 409)."""
    payment = case.operation.schema["/v1/payments/{payment_id}"]["GET"].Case(
        path_parameters={"payment_id": case.path_parameters["payment_id"]}, headers=official.headers).call()
    return int(payment.json()["refundable"])


def _signed_callback(world: World, data: st.DataObject) -> tuple[bytes, dict[str, str]] | None:
    """Most of the time, a callback the fake bank could have sent, signed: about an order of the world (or not),
    with a drawn status and amount; so the handler's insides, not its signature check, meet the fuzz."""
    import time

    from app.core.settings import get_settings
    from app.fees.providers import fakepay

    if not _mostly(data):
        return None
    ref, txn, amount = data.draw(st.sampled_from([*world.orders, ("FP-UNKNOWN-ORDER", "FPUNKNOWN", 1000)]))
    event = {"event_id": uuid.uuid4().hex, "order_ref": ref,
             "transaction_id": data.draw(st.sampled_from([txn, "FP" + uuid.uuid4().hex[:16].upper()])),
             "status": data.draw(st.sampled_from(["succeeded", "failed", "cancelled"])),
             "amount": data.draw(st.sampled_from([amount, 0, amount - 1, amount + 1]) | st.integers(0, 10**12)),
             "occurred_at": "2026-01-01T00:00:00+00:00"}
    body = json.dumps(event).encode()
    stamp = str(int(time.time()))
    return body, {"Content-Type": "application/json", fakepay.TIMESTAMP_HEADER: stamp,
                  fakepay.SIGNATURE_HEADER: fakepay.sign(get_settings().fakepay_secret, stamp, body)}


def _headers_for(who: str, actors: dict[str, Actor], data: st.DataObject) -> dict[str, str]:
    from tests.conftest import IDP

    if who == "anonymous":
        return {}
    if who == "newcomer":
        subject = f"newcomer-{uuid.uuid4().hex}"
        citizen_id = "0" + str(uuid.uuid4().int)[:11]
        return {"Authorization": f"Bearer {IDP.citizen_token(citizen_id, subject=subject, lifetime_s=3600)}"}
    if who == "reader":
        who = _one(data, ["citizen", "official", "client"])
    elif who == "applicant_or_official":
        who = _one(data, ["citizen", "official"])
    return actors[who].headers


def _resource_read(label: str) -> str | None:
    """The GET that reads what `label` changes (for its ETag): the longest prefix of the path that has one."""
    parts = label.split(" ", 1)[1].split("/")
    for end in range(len(parts), 1, -1):
        path = "/".join(parts[:end])
        if "get" in SPEC["paths"].get(path, {}):
            return path
    return None


def _if_match(schema: Any, label: str, case: Any, headers: dict[str, str], data: st.DataObject) -> None:
    """The resource's current ETag as If-Match (most of the time; the generated one otherwise)."""
    if "if-match" not in {p["name"].lower() for p in _parameters(label)} or not _mostly(data):
        return
    read = _resource_read(label)
    if read is None:
        return
    names = {name for name in case.path_parameters if "{" + name + "}" in read}
    response = schema[read]["GET"].Case(path_parameters={n: case.path_parameters[n] for n in names},
                                        headers=headers).call()
    etag = response.headers.get("etag") or response.headers.get("ETag")
    if isinstance(etag, list):
        etag = etag[0] if etag else None
    if etag:
        _set_header(case, "If-Match", etag)


def _parameters(label: str) -> list[dict[str, Any]]:
    method, path = label.split(" ", 1)
    return list(SPEC["paths"][path][method.lower()].get("parameters", []))


# --- the test ------------------------------------------------------------------------------------------------------

def _param(label: str) -> Any:
    return pytest.param(label, id=label)


@pytest.mark.parametrize("label", [_param(label) for label in LABELS])
def test_operation_honours_its_contract_in_a_real_world(label: str, world: World, seeded_schema: Any) -> None:
    method, path = label.split(" ", 1)
    try:
        operation = seeded_schema[path][method]
    except KeyError:
        pytest.skip(f"{label} is not in the running app's schema (openapi/openapi.json is ahead of it)")
    statuses = REACHED.setdefault(label, set())
    actors = world.actors
    strategies = [operation.as_strategy()]
    if NEGATIVE:  # schema-breaking data on real ids: past the 404 a random id stops at
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    strategy = st.one_of(strategies)

    @given(data=st.data())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              derandomize=DERANDOMIZE)
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy)
        case.path_parameters = {**(case.path_parameters or {}), **_path_parameters(label, world, data)}
        _query(case, world, data)
        _body(label, case, world, actors, data)
        who = _transition(case, world, data) if actor_name(label) == "transition" else actor_name(label)
        auth = _headers_for(who, actors, data)
        if _mostly(data):
            _set_header(case, "X-On-Behalf-Of", None)
        _if_match(seeded_schema, label, case, auth, data)
        case.headers = {**(case.headers or {}), **auth}
        signed = _signed_callback(world, data) if label == "POST /v1/payments/providers/{provider}/callback" else None
        if signed is not None:
            body, headers = signed
            case.headers = {**(case.headers or {}), **headers}
            response = case.call(data=body)
        else:
            response = case.call()
        statuses.add(response.status_code)
        if TRACE and not 200 <= response.status_code < 300:  # why an operation does not get through
            print(label, case.path_parameters, case.query, response.status_code, response.text[:700])
        if label.endswith("/transitions") and response.status_code == 200:
            world.states[case.path_parameters["dossier_id"]] = response.json()["state"]
        case.validate_response(response, checks=CHECKS)

    run()
