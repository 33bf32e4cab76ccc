"""Drawing the real values of a seeded contract-fuzz case (tests/contract/test_schemathesis_seeded.py) from the world
of tests/support/contract_world.py: who calls each operation, which ids its path takes, the references its query and
body name, the If-Match it sends, and a bank-signed provider callback. Each "mostly" leaves the generated value in
the mix one time in ten.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.support.contract_world import AGENCY, ROOT_AGENCY, World
from tests.support.dossier_fixtures import PDF
from tests.support.identity_fixtures import Actor

METHODS = ("get", "put", "post", "patch", "delete")
SPEC = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text())
LABELS = [f"{method.upper()} {path}" for path, item in SPEC["paths"].items() for method in item if method in METHODS]

# Who calls each operation: an actor of the world, "anonymous", "newcomer" (a valid token not yet registered),
# "reader" (the applicant, an official of the agency or its integrator, drawn), "applicant" (the citizen or the
# organisation, drawn), "transition" (by action).
ACTOR_BY_LABEL: dict[str, str] = {
    "POST /v1/accounts": "newcomer",
    "POST /v1/dossiers": "citizen", "PATCH /v1/dossiers/{dossier_id}": "citizen",
    "DELETE /v1/dossiers/{dossier_id}": "citizen", "POST /v1/dossiers/{dossier_id}/submit": "citizen",
    "POST /v1/dossiers/{dossier_id}/attachments": "citizen",
    "DELETE /v1/dossiers/{dossier_id}/attachments/{attachment_id}": "citizen",
    "POST /v1/dossiers/{dossier_id}/payments": "citizen", "POST /v1/dossiers/{dossier_id}/rating": "citizen",
    "GET /v1/dossiers/{dossier_id}/notifications": "applicant_or_official",
    "GET /v1/accounts/me/notifications": "applicant",
    "POST /v1/dossiers/{dossier_id}/transitions": "transition",
    "POST /v1/dossiers/intake": "official", "POST /v1/dossiers/{dossier_id}/payments/counter": "official",
    "POST /v1/payments/{payment_id}/refunds": "official",
    "POST /v1/payments/{payment_id}/refunds/{refund_id}/resolution": "official",
    "POST /v1/integration/dossiers": "client",
    "GET /v1/agencies": "anonymous", "GET /v1/agencies/{code}": "anonymous", "GET /v1/fields": "anonymous",
    "GET /v1/fields/{code}": "anonymous", "GET /v1/procedures": "anonymous", "GET /v1/procedures/{code}": "anonymous",
    "GET /v1/procedures/{code}/versions": "anonymous", "GET /v1/calendar/working-days": "anonymous",
    "POST /v1/dossiers/{dossier_id}/complaints": "citizen",
    "GET /v1/dossiers/{dossier_id}/complaints": "applicant_or_official", "GET /v1/complaints": "official",
    "GET /v1/complaints/{complaint_id}": "applicant_or_official",
    "POST /v1/complaints/{complaint_id}/answer": "official", "POST /v1/complaints/{complaint_id}/rating": "citizen",
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


def actor_name(label: str) -> str:
    if label in ACTOR_BY_LABEL:
        return ACTOR_BY_LABEL[label]
    path = label.split(" ", 1)[1]
    return next(who for prefix, who in ACTOR_BY_PREFIX if path.startswith(prefix))


def _one(data: st.DataObject, values: list[str]) -> str:
    return data.draw(st.sampled_from(values))


def mostly(data: st.DataObject) -> bool:
    """True nine times in ten: a real value most of the time, the generated one left in the mix."""
    return data.draw(st.integers(0, 9)) != 9


def set_header(case: Any, name: str, value: str | None) -> None:
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != name.lower()}
    case.headers = headers if value is None else {**headers, name: value}


def real_path_parameters(label: str, world: World, data: st.DataObject) -> dict[str, str]:
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
    if label == "POST /v1/payments/{payment_id}/cancel":  # an online payment under way: finance gives it up
        chosen["payment_id"] = ids["cancellable_payment"][0]
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
    if "{complaint_id}" in path:  # answered once, rated once: each action has complaints of its own
        pool = {"answer": "open_complaint", "rating": "answered_complaint"}.get(path.rsplit("/", 1)[-1], "complaint")
        chosen["complaint_id"] = _one(data, ids[pool])
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
    if label == "DELETE /v1/agencies/{code}/signing-key":  # one agency loses its key; the others keep theirs
        return {"code": world.agencies[-1]}
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


def real_query(case: Any, world: World, data: st.DataObject) -> None:
    """References in the query made real (most of the time: the generated ones stay in the mix)."""
    query = case.query
    if not query:
        return
    real = {"agency": world.agencies, "parent": world.agencies, "agency_code": world.agencies,
            "procedure": world.ids["procedure"], "field": world.ids["field"], "period": world.ids["published_period"],
            "code": world.ids["dossier_code"]}
    for name, values in real.items():
        if name in query and mostly(data):
            query[name] = _one(data, values)
    if "cursor" in query and mostly(data):
        del query["cursor"]  # a generated cursor is a 422: let most cases past it


def real_body(label: str, case: Any, world: World, actors: dict[str, Actor], data: st.DataObject) -> None:
    """References in a JSON body made real: the agency, field, procedure, assignee a request names."""
    body = case.body
    if not isinstance(body, dict):
        return
    real: dict[str, list[str]] = {
        "procedure_code": world.ids["procedure"], "agency_code": [AGENCY], "parent_code": [ROOT_AGENCY],
        "field_code": world.ids["field"], "assignee": [str(actors["official"].id)], "period": world.ids["open_period"],
        "provider": ["fakepay"], "return_url": ["https://portal.example/return"],
        "url": ["https://hooks.example.com/dvc"],
    }
    for name, values in real.items():
        if name in body and mostly(data):
            body[name] = _one(data, values)
    if not mostly(data):
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
    if label == "POST /v1/payments/{payment_id}/cancel":
        body["reason"] = "Ngân hàng không xác nhận giao dịch sau 3 ngày"
    if label == "PUT /v1/agencies/{code}/signing-key":  # a real PKCS#12 and its passphrase
        body.update(pkcs12=world.ids["signing_key_pkcs12"][0], passphrase=world.ids["signing_key_passphrase"][0])
    if label == "POST /v1/dossiers/{dossier_id}/attachments":
        body["part"] = _one(data, ["application_form", "id_copy"])
        if "json" in (case.media_type or ""):  # one of the citizen's digitised documents, reused
            body["source_attachment_id"] = _one(data, world.ids["own_document"])
        else:
            body["file"] = PDF


def fitting_action(case: Any, world: World, data: st.DataObject) -> str:
    """An action that fits the dossier's state (most of the time), with the fields it needs; who may take it."""
    # The draws come first, the same whatever the state: the state changes as the examples run, and hypothesis
    # replays an example's draws (a draw that depended on the state would be "inconsistent data generation").
    tune, pick = mostly(data), data.draw(st.integers(0, 59))
    body = case.body if isinstance(case.body, dict) else None
    fitting = ACTIONS_FOR.get(world.states.get(case.path_parameters["dossier_id"], ""), [])
    if body is None or not fitting or not tune:
        return "official"
    action = body["action"] = fitting[pick % len(fitting)]
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


def signed_callback(world: World, data: st.DataObject) -> tuple[bytes, dict[str, str]] | None:
    """Most of the time, a callback the fake bank could have sent, signed: about an order of the world (or not),
    with a drawn status and amount; so the handler's insides, not its signature check, meet the fuzz."""
    import time

    from app.core.settings import get_settings
    from app.fees.providers import fakepay

    if not mostly(data):
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


def caller_headers(who: str, actors: dict[str, Actor], data: st.DataObject) -> dict[str, str]:
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
    elif who == "applicant":
        who = _one(data, ["citizen", "organisation"])
    return actors[who].headers


def _resource_read(label: str) -> str | None:
    """The GET that reads what `label` changes (for its ETag): the longest prefix of the path that has one."""
    parts = label.split(" ", 1)[1].split("/")
    for end in range(len(parts), 1, -1):
        path = "/".join(parts[:end])
        if "get" in SPEC["paths"].get(path, {}):
            return path
    return None


def current_if_match(schema: Any, label: str, case: Any, headers: dict[str, str], data: st.DataObject) -> None:
    """The resource's current ETag as If-Match (most of the time; the generated one otherwise)."""
    if "if-match" not in {p["name"].lower() for p in _parameters(label)} or not mostly(data):
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
        set_header(case, "If-Match", etag)


def _parameters(label: str) -> list[dict[str, Any]]:
    method, path = label.split(" ", 1)
    return list(SPEC["paths"][path][method.lower()].get("parameters", []))
