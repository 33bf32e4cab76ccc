"""Walk every route that addresses a resource by id: outsiders get nothing, whatever route is added later.

The matrix (test_authz_matrix.py) states who may do what on each route it names; this walk takes the routes from the
app itself, so a new route taking a dossier, payment, refund, attachment, notice, webhook, official, client,
representative or complaint id is probed without anyone remembering to list it. Each outsider (a citizen who is no
party, the organisation's representative acting for itself, an official of another agency holding every role, an
integrator of another agency holding every scope) sends the route a request it could act on (a body from BODIES) with
the world's real ids: never 2xx, never 5xx, and a 404 is the 404 of random ids (no existence leak). A route with a
path parameter the walk does not know fails here until it is classified below.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from tests.contract.test_authz_matrix import ALL_ROLES, OTHER_AGENCY, REFUND, World, _paid_world
from tests.fees.conftest import Fees
from tests.support.dossier_fixtures import Dossiers
from tests.support.identity_fixtures import Accounts

# Path parameters naming a resource of the world (the key of World.ids that fills it).
ID_PARAMS = {"dossier_id": "dossier", "attachment_id": "attachment", "notice_id": "notice", "payment_id": "payment",
             "refund_id": "refund", "webhook_id": "webhook", "delivery_id": "delivery", "official_id": "official",
             "client_id": "client", "representative_id": "representative", "complaint_id": "complaint"}
# Path parameters of public or catalogue routes (codes, dates, providers), probed by their own tests.
OTHER_PARAMS = {"code", "n", "date", "provider", "ref"}
ALL_SCOPES = ["dossiers:read", "dossiers:sync", "reports:read", "catalogue:write"]
OUTSIDERS = ("stranger", "rep_own", "other_agency", "client_other")
OK = range(200, 300)

# What each write route would act on; a route left out is sent `{}`.
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v1/dossiers/{dossier_id}"): {"form": {}},
    ("POST", "/v1/dossiers/{dossier_id}/payments"): {"provider": "fakepay", "return_url": "https://portal.example/r"},
    ("POST", "/v1/dossiers/{dossier_id}/payments/counter"): {"receipt_number": "BL-9"},
    ("POST", "/v1/dossiers/{dossier_id}/rating"): {"score": 4},
    ("POST", "/v1/dossiers/{dossier_id}/transitions"): {"action": "request_supplement", "items": ["Bản sao"]},
    ("POST", "/v1/payments/{payment_id}/refunds"): REFUND,
    ("POST", "/v1/payments/{payment_id}/refunds/{refund_id}/resolution"): {"outcome": "failed", "note": "x"},
    ("PATCH", "/v1/webhooks/{webhook_id}"): {"description": "x"},
    ("PATCH", "/v1/officials/{official_id}"): {"name": "Tên mới"},
    ("PATCH", "/v1/clients/{client_id}"): {"name": "Tên mới"},
    ("POST", "/v1/dossiers/{dossier_id}/complaints"): {"text": "Xử lý chậm"},
    ("POST", "/v1/complaints/{complaint_id}/answer"): {"answer": "Đã xử lý"},
    ("POST", "/v1/complaints/{complaint_id}/rating"): {"satisfied": True},
}


def _id_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes: list[tuple[str, str]] = []
    for route in iter_route_contexts(app.routes):
        path = str(route.path)
        params = set(getattr(route, "param_convertors", {}) or {})
        unknown = params - set(ID_PARAMS) - OTHER_PARAMS
        assert not unknown, f"{path}: classify {sorted(unknown)} in ID_PARAMS or OTHER_PARAMS"
        if params and params <= set(ID_PARAMS):
            routes += [(str(method), path) for method in sorted(getattr(route, "methods", None) or ())
                       if method != "HEAD"]
    return routes


async def _world(client: httpx.AsyncClient, accounts: Accounts, fees: Fees) -> World:
    """The matrix's paid world, plus a webhook of the agency's integrator with one delivery, and outsiders."""
    from app.core import clock
    from app.core.db import get_database
    from app.core.delivery import Delivery
    from app.core.outbox import OutboxEvent
    from app.integration.models import WebhookSubscription
    from app.integration.webhooks import CONSUMER

    world = await _paid_world(client, accounts, fees)
    integrator = world.callers["client_read"][0]
    async with get_database().write_sessions() as session, session.begin():
        subscription = WebhookSubscription(client_id=integrator.id, url="https://hooks.example.com/dvc",
                                           secret="whsec_test", event_types=["dossier.submitted"])
        session.add(subscription)
        await session.flush()
        event = (await session.execute(OutboxEvent.__table__.select().limit(1))).first()
        assert event is not None
        now = clock.now()
        delivery = Delivery(consumer=CONSUMER, target=str(subscription.id), event_id=event.id, state="dead",
                            attempts=1, ordering_key=str(event.aggregate_id), next_attempt_at=now, created_at=now)
        session.add(delivery)
        await session.flush()
    world.ids.update({"webhook": str(subscription.id), "delivery": str(delivery.id),
                      "official": str(world.callers["reception"][0].id), "client": str(integrator.id),
                      "representative": str(world.rep_link)})
    world.callers["other_agency"] = (await accounts.official(OTHER_AGENCY, [*ALL_ROLES, "agency_admin"]), {})
    world.callers["client_other"] = (await accounts.client(ALL_SCOPES, [OTHER_AGENCY]), {})
    return world


def _url(path: str, ids: dict[str, str]) -> str:
    return path.format(**{param: ids[key] for param, key in ID_PARAMS.items()})


async def test_outsiders_reach_no_resource_by_id(app: FastAPI, client: httpx.AsyncClient, accounts: Accounts,
                                                 dossiers: Dossiers) -> None:
    routes = _id_routes(app)
    assert ("GET", "/v1/payments/{payment_id}/receipt") in routes and len(routes) > 30  # the walk sees them all
    world = await _world(client, accounts, Fees(accounts, dossiers))
    random_ids = {key: str(uuid.uuid4()) if key != "delivery" else "987654321" for key in world.ids}
    wrong = []
    for method, path in routes:
        body = BODIES.get((method, path), {} if method in ("POST", "PATCH", "PUT") else None)
        for caller in OUTSIDERS:
            headers = {**world.headers(caller), "If-Match": "*"}
            answer = await client.request(method, _url(path, world.ids), headers=headers, json=body)
            where = f"{caller} {method} {path}"
            if answer.status_code in OK or answer.status_code >= 500:
                wrong.append(f"{where}: {answer.status_code} {answer.text[:200]}")
            elif answer.status_code == 404:
                other = await client.request(method, _url(path, random_ids), headers=headers, json=body)
                seen, unknown = answer.json(), other.json()
                if (other.status_code, seen.get("code"), seen.get("detail")) != (
                        404, unknown.get("code"), unknown.get("detail")):
                    wrong.append(f"{where}: existence leak {seen} != {unknown}")
    assert not wrong, "\n".join(wrong)
    # The world's resources are real: the applicant reads the dossier and its payment.
    owner = world.headers("owner")
    for path in ("/v1/dossiers/{dossier_id}", "/v1/payments/{payment_id}/receipt"):
        assert (await client.get(_url(path, world.ids), headers=owner)).status_code == 200

