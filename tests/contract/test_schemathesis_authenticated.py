"""The contract test again, as a registered system administrator and as a registered citizen, so that the
operations behind the gate get past it with generated inputs.

Same checks as test_schemathesis.py (no 5xx, documented statuses and media types, schema-conforming bodies).
"""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

from tests.support.idp import ISSUER  # noqa: E402

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))

schema = schemathesis.pytest.from_fixture("admin_contract_schema")


@pytest.fixture(scope="session")
def admin_contract_schema(app):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_asgi("/openapi.json", app)


CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]


def _on_private_loop(work) -> None:  # type: ignore[no-untyped-def]
    """Run account set-up on its own loop (the schemathesis tests are synchronous)."""
    from app.core.db import close_database, get_database

    async def run() -> None:
        try:
            async with get_database().write_sessions() as session, session.begin():
                await work(session)
        finally:
            await close_database()

    thread = threading.Thread(target=lambda: asyncio.run(run()))
    thread.start()
    thread.join()


@pytest.fixture
def admin_headers(idp, database_url: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from app.identity import staff

    _on_private_loop(lambda session: staff.create_admin(session, issuer=ISSUER, subject="contract-admin",
                                                        email="contract-admin@dvc.gov.vn", name="Quản trị"))
    return {"Authorization": f"Bearer {idp.token('contract-admin', lifetime_s=3600)}"}


@pytest.fixture
def citizen_headers(idp, database_url: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from app.identity import service
    from app.identity.schemas import RegistrationIn
    from app.identity.tokens import VerifiedToken

    claims = {"iss": ISSUER, "sub": "contract-citizen", "citizen_id": "001099012345", "name": "Nguyễn Văn An"}
    _on_private_loop(lambda session: service.register(session, VerifiedToken(ISSUER, "contract-citizen", claims),
                                                      RegistrationIn(email="an@example.vn")))
    return {"Authorization": f"Bearer {idp.citizen_token('001099012345', subject='contract-citizen')}"}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_operation_honours_its_contract_as_admin(case, admin_headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    case.validate_response(case.call(headers={**(case.headers or {}), **admin_headers}), checks=CHECKS)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_operation_honours_its_contract_as_citizen(case, citizen_headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    case.validate_response(case.call(headers={**(case.headers or {}), **citizen_headers}), checks=CHECKS)
