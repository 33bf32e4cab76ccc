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

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode, checks  # noqa: E402

from tests.support.contract_draws import (  # noqa: E402
    LABELS,
    actor_name,
    caller_headers,
    current_if_match,
    fitting_action,
    mostly,
    real_body,
    real_path_parameters,
    real_query,
    set_header,
    signed_callback,
)
from tests.support.contract_world import World, build_world  # noqa: E402
from tests.support.identity_fixtures import Accounts  # noqa: E402

_CHOSEN = os.environ.get("SCHEMATHESIS_SEEDED_MAX_EXAMPLES") or os.environ.get("SCHEMATHESIS_MAX_EXAMPLES")
MAX_EXAMPLES = int(_CHOSEN or "5")
# At the default count the examples are the same every run (the end-of-run check must not flicker in CI); a
# chosen count (`make fuzz`) explores afresh each time.
DERANDOMIZE = _CHOSEN is None
# Also schema-breaking requests (half the examples) in deep runs: at the default count every example is needed to
# get past the checks to a 2xx. SCHEMATHESIS_SEEDED_NEGATIVE=1 / 0 forces either way.
NEGATIVE = os.environ.get("SCHEMATHESIS_SEEDED_NEGATIVE", "1" if MAX_EXAMPLES >= 20 else "0") != "0"
TRACE = bool(os.environ.get("SCHEMATHESIS_SEEDED_TRACE"))  # with -s: every answer that was not a 2xx
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]

# Operations a generated request cannot (or only by luck) take to a 2xx, and why. Printed with the summary when they
# do not; every other operation must reach one.
NEVER_2XX: dict[str, str] = {
    "GET /v1/payments/providers/{provider}/callback":
        "the GET form is VNPAY's (signed query), not configured in tests; fakepay signs a POST body (401 otherwise)",
}

REACHED: dict[str, set[int]] = {}


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
        case.path_parameters = {**(case.path_parameters or {}), **real_path_parameters(label, world, data)}
        real_query(case, world, data)
        real_body(label, case, world, actors, data)
        who = fitting_action(case, world, data) if actor_name(label) == "transition" else actor_name(label)
        auth = caller_headers(who, actors, data)
        if mostly(data):
            set_header(case, "X-On-Behalf-Of", None)
        current_if_match(seeded_schema, label, case, auth, data)
        case.headers = {**(case.headers or {}), **auth}
        signed = signed_callback(world, data) if label == "POST /v1/payments/providers/{provider}/callback" else None
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
