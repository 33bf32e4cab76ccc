"""Authorization matrix over the routes that take a dossier, payment, refund, attachment, notice, webhook, official,
client or complaint id: the caller allowed gets 2xx; everyone else 404 `not_found` (may not see it) or 403 (may see
it, may not do it), never 2xx or 5xx; and a hidden resource's 404 is the same body as a nonexistent one's (no
existence leak).

Callers (one world per test, the tables are emptied after each):
owner (an organisation, the dossier's applicant), rep (a citizen acting for it with X-On-Behalf-Of, then removed
with DELETE /v1/accounts/me/representatives/{id}), stranger (another citizen), other_agency (an official of another
agency holding every working role), same_agency (an official of the dossier's agency, role processing only),
admin, client_read / client_sync (the agency's integrators with dossiers:read / dossiers:sync only), client_other
(dossiers:read for another agency), client_noscope (the agency, reports:read only), suspended (a suspended finance
official of the agency).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fees.conftest import BEFORE_TOTAL, Case, Fees
from tests.fees.test_refund_resolution import _stuck_refund
from tests.support.dossier_fixtures import Dossiers
from tests.support.identity_fixtures import DEFAULT_AGENCY, Accounts, Actor
from tests.workflow.pki import signing_key_upload

OTHER_AGENCY = "000.00.77.H01"
ALL_ROLES = ["reception", "processing", "approval", "finance"]
HIDDEN = {404}  # 404 not_found: may not see it
DENIED = {403}  # 403: may see it (or may not act at all), may not do it


@pytest.fixture
def fees(accounts: Accounts, dossiers: Dossiers) -> Fees:
    return Fees(accounts, dossiers)


@dataclass
class World:
    case: Case | None
    org: Actor
    rep: Actor
    rep_link: uuid.UUID
    callers: dict[str, tuple[Actor, dict[str, str]]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def headers(self, name: str) -> dict[str, str]:
        actor, extra = self.callers[name]
        return {**actor.headers, **extra}


async def _callers(accounts: Accounts, world: World) -> None:
    assert world.case is not None
    on_behalf = {"X-On-Behalf-Of": str(world.org.id)}
    suspended = await accounts.official(DEFAULT_AGENCY, ALL_ROLES)
    await accounts.suspend(suspended)
    world.callers.update({
        "owner": (world.org, {}),
        "rep": (world.rep, on_behalf),
        "rep_own": (world.rep, {}),
        "stranger": (await accounts.citizen(), {}),
        "other_agency": (await accounts.official(OTHER_AGENCY, ALL_ROLES), {}),
        "same_agency": (await accounts.official(DEFAULT_AGENCY, ["processing"]), {}),
        "reception": (world.case.reception, {}),
        "finance": (world.case.finance, {}),
        "admin": (await accounts.admin(), {}),
        "client_read": (await accounts.client(["dossiers:read"], [DEFAULT_AGENCY]), {}),
        "client_sync": (await accounts.client(["dossiers:sync"], [DEFAULT_AGENCY]), {}),
        "client_other": (await accounts.client(["dossiers:read"], [OTHER_AGENCY]), {}),
        "client_noscope": (await accounts.client(["reports:read"], [DEFAULT_AGENCY]), {}),
        "suspended": (suspended, {}),
    })


async def _paid_world(client: httpx.AsyncClient, accounts: Accounts, fees: Fees) -> World:
    """An organisation's dossier, its fees paid online, part refunded, rated; and every caller."""
    code = await fees.procedure()
    org, rep = await accounts.organisation(), await accounts.citizen()
    link = await accounts.representative(org, rep)
    dossier = await fees.dossiers.submitted(client, org, code)
    case = Case(org, await accounts.official(DEFAULT_AGENCY, ["reception"]),
                await accounts.official(DEFAULT_AGENCY, ["finance"]), dossier, code)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    for callback in fees.bank.complete(attempt["provider_ref"]):
        assert (await fees.deliver(client, callback)).status_code == 200
    pid = str(attempt["id"])
    refund = await client.post(f"/v1/payments/{pid}/refunds", headers=case.finance.headers, json={
        "amount": 1000, "reason": "Thu thừa", "expected_available": BEFORE_TOTAL})
    assert refund.status_code == 201, refund.text
    world = World(case, org, rep, link)
    await _callers(accounts, world)
    attachments = (await client.get(f"/v1/dossiers/{case.id}/attachments", headers=org.headers)).json()["items"]
    notices = (await client.get(f"/v1/dossiers/{case.id}/notices", headers=org.headers)).json()["items"]
    assert attachments and notices
    await _rate(case.id, org.id)
    complaint = await client.post(f"/v1/dossiers/{case.id}/complaints", headers=org.headers,
                                  json={"text": "Hoàn tiền chậm"})
    assert complaint.status_code == 201, complaint.text
    world.ids = {"dossier": case.id, "payment": pid, "refund": str(refund.json()["id"]),
                 "attachment": str(attachments[0]["id"]), "notice": str(notices[0]["id"]),
                 "complaint": str(complaint.json()["id"])}
    return world


async def _rate(dossier_id: str, by: uuid.UUID) -> None:
    """A rating row (the route needs a finished dossier; only reading it is under test here)."""
    from app.core.db import get_database
    from app.reporting.models import DossierRating

    async with get_database().write_sessions() as session, session.begin():
        session.add(DossierRating(dossier_id=uuid.UUID(dossier_id), score=5, rated_by=by))


async def _remove_rep(client: httpx.AsyncClient, world: World) -> None:
    removed = await client.delete(f"/v1/accounts/me/representatives/{world.rep_link}", headers=world.org.headers)
    assert removed.status_code == 204, removed.text


def _comparable(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    body = dict(response.json())
    body.pop("instance", None)
    body.pop("request_id", None)
    return response.status_code, body


async def _call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str],
                ids: dict[str, str], json: Any = None) -> httpx.Response:
    return await client.request(method, path.format(**ids), headers=headers, json=json)


def _random_ids(ids: dict[str, str]) -> dict[str, str]:
    return {key: str(uuid.uuid4()) for key in ids}


async def _check(client: httpx.AsyncClient, world: World, caller: str, method: str, path: str,
                 allowed: set[int], *, json: Any = None, code: str | None = None) -> list[str]:
    """What is wrong with `caller`'s answer: a status outside `allowed` (never 5xx), another problem code than
    `code`, or a 404 whose body differs from the 404 for random ids (apart from instance and request_id)."""
    headers = world.headers(caller)
    response = await _call(client, method, path, headers, world.ids, json)
    where = f"{caller} {method} {path}"
    if response.status_code not in allowed:
        return [f"{where}: {response.status_code} {response.text[:300]}"]
    if code is not None and response.json().get("code") != code:
        return [f"{where}: {response.text[:300]}"]
    if response.status_code == 404:
        random = await _call(client, method, path, headers, _random_ids(world.ids), json)
        if _comparable(response) != _comparable(random):
            return [f"{where}: existence leak {_comparable(response)} != {_comparable(random)}"]
    return []


# --- reads of one dossier and what hangs from it ------------------------------------------------------------

OK = {200}
# Who may read the dossier (and its attachments, fees, history, notices, payments, rating, steps): applicant,
# its representative while authorised, the agency's officials whatever their role, the system administrator,
# the agency's integrators holding dossiers:read.
READERS = {"owner": OK, "rep": OK, "same_agency": OK, "reception": OK, "finance": OK, "admin": OK,
           "client_read": OK}
HIDDEN_FROM = ("stranger", "rep_own", "other_agency", "client_other", "client_noscope", "client_sync")

DOSSIER_READS = [
    "/v1/dossiers/{dossier}",
    "/v1/dossiers/{dossier}/attachments",
    "/v1/dossiers/{dossier}/attachments/{attachment}/content",
    "/v1/dossiers/{dossier}/fees",
    "/v1/dossiers/{dossier}/history",
    "/v1/dossiers/{dossier}/history/verify",
    "/v1/dossiers/{dossier}/notices",
    "/v1/dossiers/{dossier}/notices/{notice}",
    "/v1/dossiers/{dossier}/payments",
    "/v1/dossiers/{dossier}/rating",
    "/v1/dossiers/{dossier}/steps",
    "/v1/payments/{payment}",
    "/v1/payments/{payment}/receipt",
    "/v1/payments/{payment}/refunds",
    "/v1/payments/{payment}/refunds/{refund}",
]
# Per-route differences from READERS / HIDDEN_FROM.
SPECIAL: dict[str, dict[str, set[int]]] = {
    # Notifications: never to integrator clients (403 forbidden_role whatever the dossier).
    "/v1/dossiers/{dossier}/notifications": {"client_read": DENIED, "client_other": DENIED,
                                             "client_noscope": DENIED, "client_sync": DENIED},
    # Sync state: also the agency's integrators syncing it (dossiers:sync).
    "/v1/dossiers/{dossier}/sync": {"client_sync": OK},
    # Complaints: between the applicant and the agency, never for integrator clients (403 forbidden_role).
    "/v1/dossiers/{dossier}/complaints": {"client_read": DENIED, "client_other": DENIED, "client_noscope": DENIED,
                                          "client_sync": DENIED},
    "/v1/complaints/{complaint}": {"client_read": DENIED, "client_other": DENIED, "client_noscope": DENIED,
                                   "client_sync": DENIED},
}


def _matrix(path: str) -> dict[str, set[int]]:
    return {**READERS, **{name: HIDDEN for name in HIDDEN_FROM}, **SPECIAL.get(path, {})}


READ_PARAMS = [*DOSSIER_READS, *SPECIAL]


@pytest.mark.parametrize("path", READ_PARAMS)
async def test_reads(client: httpx.AsyncClient, accounts: Accounts, fees: Fees, path: str) -> None:
    world = await _paid_world(client, accounts, fees)
    wrong = []
    for caller, allowed in _matrix(path).items():
        wrong += await _check(client, world, caller, "GET", path, allowed)
    wrong += await _check(client, world, "suspended", "GET", path, DENIED, code="account_suspended")
    await _remove_rep(client, world)
    wrong += await _check(client, world, "rep", "GET", path, DENIED | HIDDEN)
    wrong += await _check(client, world, "rep_own", "GET", path, HIDDEN)
    assert not wrong, "\n".join(wrong)


# --- actions on a dossier or payment ---------------------------------------------------------------------------

REFUND = {"amount": 1000, "reason": "Thu thừa", "expected_available": BEFORE_TOTAL - 1000}
# (method, path, body, who may do it, {caller: expected} for the others)
NOT_APPLICANT = {"same_agency": DENIED, "reception": DENIED, "finance": DENIED, "admin": DENIED,
                 "client_read": DENIED, "other_agency": DENIED, "client_other": DENIED}
NOT_FINANCE = {"owner": DENIED, "rep": DENIED, "stranger": DENIED, "same_agency": DENIED, "reception": DENIED,
               "client_read": DENIED, "client_other": DENIED, "other_agency": HIDDEN}
ACTIONS = [
    ("POST", "/v1/payments/{payment}/refunds", REFUND, "finance", NOT_FINANCE),
    ("POST", "/v1/dossiers/{dossier}/payments", {"provider": "fakepay", "return_url": "https://portal.example/r"},
     None, {"stranger": HIDDEN, "rep_own": HIDDEN, **NOT_APPLICANT}),
    ("POST", "/v1/dossiers/{dossier}/payments/counter", {"receipt_number": "BL-1"}, None, NOT_FINANCE),
    ("POST", "/v1/dossiers/{dossier}/rating", {"score": 4}, None,
     {"stranger": HIDDEN, "rep_own": HIDDEN, **NOT_APPLICANT}),
    # assign: reception or processing (same_agency holds processing); the others are refused before its fields.
    ("POST", "/v1/dossiers/{dossier}/transitions", {"action": "assign", "assignee": str(uuid.uuid4())}, None,
     {"owner": DENIED, "rep": DENIED, "stranger": HIDDEN, "finance": DENIED,
      "client_read": DENIED, "other_agency": HIDDEN, "client_other": HIDDEN}),
    ("POST", "/v1/payments/{payment}/refunds/{refund}/resolution", {"outcome": "failed", "note": "Đã đối soát"},
     None, NOT_FINANCE),
    ("POST", "/v1/dossiers/{dossier}/complaints", {"text": "Xử lý chậm"}, "owner",
     {"stranger": HIDDEN, "rep_own": HIDDEN, **NOT_APPLICANT}),
    # answer: an official with reception or processing at the agency (the world's reception and same_agency, not
    # checked: a 200 would end the complaint for the other tests' callers), nobody else, the administrator included.
    ("POST", "/v1/complaints/{complaint}/answer", {"answer": "Đã xử lý"}, None,
     {"owner": DENIED, "rep": DENIED, "stranger": DENIED, "finance": DENIED, "admin": DENIED, "client_read": DENIED,
      "client_other": DENIED, "other_agency": HIDDEN}),
    ("POST", "/v1/complaints/{complaint}/rating", {"satisfied": True}, None,
     {"stranger": HIDDEN, "rep_own": HIDDEN, **NOT_APPLICANT}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed_caller", "others"), ACTIONS)
async def test_actions(client: httpx.AsyncClient, accounts: Accounts, fees: Fees, method: str, path: str,
                       body: Any, allowed_caller: str | None, others: dict[str, set[int]]) -> None:
    """Nobody but the one allowed acts, the removed representative included (the world's dossier is paid and
    rated: the owner's own actions answer a domain 409, not checked here); the finance official's refund succeeds."""
    world = await _paid_world(client, accounts, fees)
    headers = {"If-Match": "*"} if path.endswith(("/transitions", "/answer")) else {}
    wrong = []
    for caller, allowed in others.items():
        world.callers[caller] = (world.callers[caller][0], {**world.callers[caller][1], **headers})
        wrong += await _check(client, world, caller, method, path, allowed, json=body)
    wrong += await _check(client, world, "suspended", method, path, DENIED, json=body, code="account_suspended")
    if allowed_caller is not None:
        wrong += await _check(client, world, allowed_caller, method, path, {201}, json=body)
    await _remove_rep(client, world)
    world.callers["rep"] = (world.callers["rep"][0], {**world.callers["rep"][1], **headers})
    wrong += await _check(client, world, "rep", method, path, DENIED, json=body)
    assert not wrong, "\n".join(wrong)


async def test_refund_resolution(client: httpx.AsyncClient, accounts: Accounts, fees: Fees,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A refund the provider never answered: only the agency's finance official resolves it."""
    case, pid, rid = await _stuck_refund(client, fees, monkeypatch, bank_answered=False)
    world = World(case, case.citizen, case.citizen, uuid.uuid4(), ids={"payment": pid, "refund": rid})
    world.callers = {"owner": (case.citizen, {}), "finance": (case.finance, {}), "reception": (case.reception, {}),
                     "stranger": (await accounts.citizen(), {}),
                     "other_agency": (await accounts.official(OTHER_AGENCY, ALL_ROLES), {}),
                     "client_read": (await accounts.client(["dossiers:read"], [DEFAULT_AGENCY]), {})}
    path, body = "/v1/payments/{payment}/refunds/{refund}/resolution", {"outcome": "failed", "note": "Đã đối soát"}
    wrong = []
    for caller, allowed in {"owner": DENIED, "reception": DENIED, "stranger": DENIED, "client_read": DENIED,
                            "other_agency": HIDDEN, "finance": OK}.items():
        wrong += await _check(client, world, caller, "POST", path, allowed, json=body)
    assert not wrong, "\n".join(wrong)


async def test_counter_payment(client: httpx.AsyncClient, fees: Fees) -> None:
    """A desk payment: the agency's finance official records it; reception, another agency, the applicant cannot."""
    case = await fees.case(client)
    await fees.request_payment(client, case)
    other = await fees.accounts.official(OTHER_AGENCY, ["finance"])
    world = World(case, case.citizen, case.citizen, uuid.uuid4(), ids={"dossier": case.id})
    world.callers = {"owner": (case.citizen, {}), "reception": (case.reception, {}), "other": (other, {}),
                     "finance": (case.finance, {})}
    path, body = "/v1/dossiers/{dossier}/payments/counter", {"receipt_number": "BL-0001"}
    wrong = []
    for caller, allowed in {"owner": DENIED, "reception": DENIED, "other": HIDDEN, "finance": {201}}.items():
        wrong += await _check(client, world, caller, "POST", path, allowed, json=body)
    assert not wrong, "\n".join(wrong)


# --- the payment list: what each caller sees -------------------------------------------------------------------

async def test_payment_list(client: httpx.AsyncClient, accounts: Accounts, fees: Fees) -> None:
    world = await _paid_world(client, accounts, fees)
    other = await fees.case(client, agency_code=OTHER_AGENCY)  # another agency's dossier, paid at the desk
    await fees.request_payment(client, other)
    counter = await client.post(f"/v1/dossiers/{other.id}/payments/counter", headers=other.finance.headers,
                                json={"receipt_number": "BL-0002"})
    assert counter.status_code == 201, counter.text
    mine, theirs = {world.ids["payment"]}, {str(counter.json()["id"])}
    sees = {"owner": mine, "rep": mine, "rep_own": set(), "stranger": set(), "same_agency": mine, "finance": mine,
            "other_agency": theirs, "admin": mine | theirs, "client_read": mine, "client_other": theirs,
            "client_noscope": set(), "client_sync": set()}

    async def listed(caller: str) -> Any:
        response = await client.get("/v1/payments", headers=world.headers(caller))
        return {p["id"] for p in response.json()["items"]} if response.status_code == 200 else response.status_code

    wrong = [f"{caller}: {seen}" for caller, expected in sees.items() if (seen := await listed(caller)) != expected]
    assert await listed("suspended") == 403
    await _remove_rep(client, world)
    assert await listed("rep") == 403
    assert await listed("rep_own") == set()
    assert not wrong, "\n".join(wrong)


# --- a draft: private to whoever fills it ------------------------------------------------------------------------

DRAFT_ROUTES: list[tuple[str, str, Any]] = [
                ("GET", "/v1/dossiers/{dossier}", None), ("PATCH", "/v1/dossiers/{dossier}", {"form": {}}),
                ("POST", "/v1/dossiers/{dossier}/submit", None), ("GET", "/v1/dossiers/{dossier}/attachments", None),
                ("GET", "/v1/dossiers/{dossier}/attachments/{attachment}/content", None),
                ("DELETE", "/v1/dossiers/{dossier}/attachments/{attachment}", None),
                ("GET", "/v1/dossiers/{dossier}/history", None), ("GET", "/v1/dossiers/{dossier}/fees", None),
                ("DELETE", "/v1/dossiers/{dossier}", None)]


async def test_draft(client: httpx.AsyncClient, accounts: Accounts, fees: Fees) -> None:
    """An organisation's draft (filed by its representative): hidden from everyone else, the system administrator
    and the agency's officials and integrators included; the representative loses it once removed."""
    code = await fees.procedure()
    org, rep = await accounts.organisation(), await accounts.citizen()
    link = await accounts.representative(org, rep)
    on_behalf = {"X-On-Behalf-Of": str(org.id)}
    draft = await fees.dossiers.draft(client, rep, code, headers=on_behalf)
    upload = await fees.dossiers.upload(client, rep, draft["id"], headers=on_behalf)
    assert upload.status_code == 201, upload.text
    world = World(Case(org, rep, rep, draft, code), org, rep, link,
                  ids={"dossier": str(draft["id"]), "attachment": str(upload.json()["id"])})
    await _callers(accounts, world)
    wrong = []
    for method, path, body in DRAFT_ROUTES:
        if_match = {"If-Match": "*"} if method != "GET" else {}
        for caller in ("stranger", "rep_own", "same_agency", "reception", "other_agency", "admin", "client_read",
                       "client_other"):
            world.callers[caller] = (world.callers[caller][0], {**world.callers[caller][1], **if_match})
            wrong += await _check(client, world, caller, method, path, HIDDEN, json=body)
        wrong += await _check(client, world, "suspended", method, path, DENIED, json=body, code="account_suspended")
        if method == "GET":
            wrong += await _check(client, world, "owner", method, path, OK)
            wrong += await _check(client, world, "rep", method, path, OK)
    await _remove_rep(client, world)
    for method, path, body in DRAFT_ROUTES:
        wrong += await _check(client, world, "rep", method, path, DENIED, json=body, code="not_a_representative")
    assert not wrong, "\n".join(wrong)


# --- webhooks, officials, clients, sync replay ----------------------------------------------------------------

async def test_webhooks(client: httpx.AsyncClient, accounts: Accounts) -> None:
    """A subscription is its client's: another client gets the 404 of a nonexistent one; others 403."""
    from app.core.db import get_database
    from app.integration.models import WebhookSubscription

    owner = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    async with get_database().write_sessions() as session, session.begin():
        subscription = WebhookSubscription(client_id=owner.id, url="https://hooks.example.com/dvc",
                                           secret="whsec_test", event_types=["dossier.submitted"])
        session.add(subscription)
    world = World(None, owner, owner, uuid.uuid4(), ids={"webhook": str(subscription.id)})
    other_client = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    world.callers = {"owner": (owner, {}), "other_client": (other_client, {}),
                     "citizen": (await accounts.citizen(), {}), "admin": (await accounts.admin(), {}),
                     "official": (await accounts.official(DEFAULT_AGENCY, ALL_ROLES), {})}
    routes = [("GET", "/v1/webhooks/{webhook}"), ("GET", "/v1/webhooks/{webhook}/deliveries"),
              ("POST", "/v1/webhooks/{webhook}/deliveries/1/replay"), ("PATCH", "/v1/webhooks/{webhook}"),
              ("POST", "/v1/webhooks/{webhook}/secret"), ("DELETE", "/v1/webhooks/{webhook}")]
    wrong = []
    for method, path in routes:
        body = {"description": "x"} if method == "PATCH" else None
        for caller, allowed in {"other_client": HIDDEN, "citizen": DENIED, "admin": DENIED,
                                "official": DENIED}.items():
            wrong += await _check(client, world, caller, method, path, allowed, json=body)
    for method, path in routes[:2]:
        wrong += await _check(client, world, "owner", method, path, OK)
    wrong += await _check(client, world, "owner", "PATCH", routes[3][1], {428}, json={"description": "x"})
    wrong += await _check(client, world, "owner", "POST", routes[4][1], OK)
    wrong += await _check(client, world, "owner", "DELETE", routes[5][1], {204})
    assert not wrong, "\n".join(wrong)


async def test_officials_and_clients(client: httpx.AsyncClient, accounts: Accounts) -> None:
    """Officials: an agency admin sees its own agency's (another agency's answer the 404 of a nonexistent one);
    clients: system administrators only."""
    mine = await accounts.official(DEFAULT_AGENCY, ["reception"])
    theirs = await accounts.official(OTHER_AGENCY, ["reception"])
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    world = World(None, mine, mine, uuid.uuid4(),
                  ids={"mine": str(mine.id), "theirs": str(theirs.id), "client": str(integrator.id)})
    world.callers = {"agency_admin": (await accounts.official(DEFAULT_AGENCY, ["agency_admin"]), {}),
                     "admin": (await accounts.admin(), {}), "official": (mine, {}), "integrator": (integrator, {}),
                     "citizen": (await accounts.citizen(), {})}
    patch = {"name": "Tên mới"}
    expected = [
        ("GET", "/v1/officials/{mine}", None, {"agency_admin": OK, "admin": OK, "official": DENIED,
                                               "integrator": DENIED, "citizen": DENIED}),
        ("GET", "/v1/officials/{theirs}", None, {"agency_admin": HIDDEN, "admin": OK}),
        ("PATCH", "/v1/officials/{theirs}", patch, {"agency_admin": HIDDEN, "official": DENIED}),
        ("PATCH", "/v1/officials/{mine}", patch, {"agency_admin": OK, "integrator": DENIED}),
        ("GET", "/v1/clients/{client}", None, {"admin": OK, "agency_admin": DENIED, "integrator": DENIED,
                                               "official": DENIED, "citizen": DENIED}),
        ("PATCH", "/v1/clients/{client}", patch, {"agency_admin": DENIED, "integrator": DENIED, "admin": OK}),
    ]
    wrong = []
    for method, path, body, callers in expected:
        for caller, allowed in callers.items():
            if method == "PATCH":  # past the gate and the visibility check, a change needs If-Match
                world.callers[caller] = (world.callers[caller][0], {**world.callers[caller][1], "If-Match": "*"})
            wrong += await _check(client, world, caller, method, path, allowed, json=body)
    assert not wrong, "\n".join(wrong)


async def test_signing_keys_are_for_administrators(client: httpx.AsyncClient, accounts: Accounts,
                                                   tmp_path: Path) -> None:
    """An agency's signing key: uploaded, read and removed by system administrators only, its own agency's admin,
    officials and integrators included (403 whatever the agency)."""
    mine = await accounts.official(DEFAULT_AGENCY, ["reception"])
    integrator = await accounts.client(["dossiers:read", "catalogue:write"], [DEFAULT_AGENCY])
    world = World(None, mine, mine, uuid.uuid4(), ids={"agency": DEFAULT_AGENCY})
    world.callers = {"agency_admin": (await accounts.official(DEFAULT_AGENCY, ["agency_admin"]), {}),
                     "admin": (await accounts.admin(), {}), "official": (mine, {}), "integrator": (integrator, {}),
                     "citizen": (await accounts.citizen(), {})}
    _, body = signing_key_upload(tmp_path, "Sở Thử Nghiệm Phân Quyền")
    path = "/v1/agencies/{agency}/signing-key"
    others = ("agency_admin", "official", "integrator", "citizen")
    wrong = []
    for caller in others:
        wrong += await _check(client, world, caller, "PUT", path, DENIED, json=body, code="forbidden_role")
    wrong += await _check(client, world, "admin", "PUT", path, OK, json=body)
    for caller in others:
        world.callers[caller] = (world.callers[caller][0], {"If-Match": "*"})
        wrong += await _check(client, world, caller, "GET", path, DENIED, code="forbidden_role")
        wrong += await _check(client, world, caller, "DELETE", path, DENIED, code="forbidden_role")
    wrong += await _check(client, world, "admin", "GET", path, OK)
    world.callers["admin"] = (world.callers["admin"][0], {"If-Match": "*"})
    wrong += await _check(client, world, "admin", "DELETE", path, {204})
    assert not wrong, "\n".join(wrong)


async def test_sync_replay_is_for_administrators(client: httpx.AsyncClient, accounts: Accounts, fees: Fees) -> None:
    world = await _paid_world(client, accounts, fees)
    wrong = []
    for caller in ("owner", "reception", "finance", "same_agency", "other_agency", "client_read", "client_sync"):
        wrong += await _check(client, world, caller, "POST", "/v1/integration/sync/{dossier}/replay", DENIED)
    wrong += await _check(client, world, "admin", "POST", "/v1/integration/sync/{dossier}/replay", {202})
    assert not wrong, "\n".join(wrong)


# --- the applicant's digitised documents, and reusing one --------------------------------------------------------

async def test_own_documents(client: httpx.AsyncClient, accounts: Accounts, fees: Fees) -> None:
    """GET /v1/accounts/me/documents: the organisation's files to it and to its representative acting for it; an
    empty list to other applicants (the representative for itself included); 403 to officials and clients. Reusing
    the world's file (POST .../attachments, JSON) works for the organisation, 404 for any other applicant."""
    world = await _paid_world(client, accounts, fees)
    mine = {world.ids["attachment"]}
    sees: dict[str, Any] = {"owner": mine, "rep": mine, "rep_own": set(), "stranger": set()}
    sees.update({name: 403 for name in ("same_agency", "reception", "finance", "admin", "client_read",
                                        "client_sync", "client_other", "client_noscope", "other_agency",
                                        "suspended")})

    async def listed(caller: str) -> Any:
        response = await client.get("/v1/accounts/me/documents", headers=world.headers(caller))
        return {d["id"] for d in response.json()["items"]} if response.status_code == 200 else response.status_code

    wrong = [f"{caller}: {seen}" for caller, expected in sees.items() if (seen := await listed(caller)) != expected]
    assert world.case is not None
    for caller, allowed in {"owner": 201, "rep": 201, "rep_own": 404, "stranger": 404}.items():
        actor, extra = world.callers[caller]
        draft = await fees.dossiers.draft(client, actor, world.case.procedure_code, headers=extra)
        answers = [await client.post(f"/v1/dossiers/{draft['id']}/attachments", headers=world.headers(caller),
                                     json={"part": "application_form", "source_attachment_id": source})
                   for source in (world.ids["attachment"], str(uuid.uuid4()))]
        if answers[0].status_code != allowed or (allowed == 404 and _comparable(answers[0]) != _comparable(answers[1])):
            wrong.append(f"{caller} reuse: {answers[0].status_code} {answers[0].text[:300]}")
    await _remove_rep(client, world)
    assert await listed("rep") == 403
    assert not wrong, "\n".join(wrong)
