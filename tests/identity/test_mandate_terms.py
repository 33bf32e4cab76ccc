"""A representative's mandate has a term (`valid_until`), as a paper authorisation (giấy ủy quyền) does: set when it is
created, extended or shortened by its organisation (If-Match), audited; once over, `X-On-Behalf-Of` refuses it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core import clock
from app.core.db import get_database
from app.core.problems import ProblemError
from app.identity.deps import acting_applicant, principal_for
from app.identity.models import AccountAudit
from app.identity.tokens import get_verifier
from tests.support.identity_fixtures import Accounts, Actor

REPS = "/v1/accounts/me/representatives"


def _z(moment: datetime) -> str:
    """A moment as the audit trail writes it."""
    return clock.utc_text(moment)


def _t(text: str | None) -> datetime | None:
    """A moment the API wrote (UTC, `Z`), read back."""
    if text is None:
        return None
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


async def _add(client: httpx.AsyncClient, org: Actor, citizen: Actor, **body: Any) -> httpx.Response:
    return await client.post(REPS, headers=org.headers,
                             json={"citizen_id": citizen.citizen_id, "name": citizen.name, **body})


async def _audit(account_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    async with get_database().read_sessions() as session:
        rows = await session.execute(select(AccountAudit.action, AccountAudit.changes)
                                     .where(AccountAudit.account_id == account_id).order_by(AccountAudit.id))
        return [(action, changes) for action, changes in rows]


async def test_a_term_is_set_at_creation_and_listed_with_whether_it_is_in_force(
        client: httpx.AsyncClient, accounts: Accounts) -> None:
    org, rep, other = await accounts.organisation(), await accounts.citizen(), await accounts.citizen()
    # The last day of a paper authorisation, 31 December, ends at local midnight: written with its offset.
    until = (clock.local(clock.now()) + timedelta(days=400)).replace(hour=0, minute=0, second=0, microsecond=0)
    added = await _add(client, org, rep, valid_until=until.isoformat())
    assert added.status_code == 201, added.text
    assert added.headers["etag"] == '"1"'
    assert _t(added.json()["valid_until"]) == until
    assert added.json()["in_force"] is True
    unlimited = await _add(client, org, other)
    assert (unlimited.json()["valid_until"], unlimited.json()["in_force"]) == (None, True)
    listed = (await client.get(REPS, headers=org.headers)).json()["items"]
    assert [(i["citizen_id"], _t(i["valid_until"]), i["in_force"]) for i in listed] == [
        (rep.citizen_id, until, True), (other.citizen_id, None, True)]
    one = await client.get(added.headers["location"], headers=org.headers)
    assert one.json() == added.json() and one.headers["etag"] == '"1"'
    (_, changes), = [row for row in await _audit(org.id) if row[0] == "representative.added"][:1]
    assert changes["representative"]["new"]["valid_until"] == _z(until)


@pytest.mark.parametrize("valid_until", [
    "past", "now", "2030-01-01T00:00:00",  # no offset: which midnight?
    "2030-01-01", "9999-12-31T23:59:59-05:00", "next year",
])
async def test_a_term_not_in_the_future_or_not_an_instant_is_422(valid_until: Any, client: httpx.AsyncClient,
                                                                 accounts: Accounts,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    org, rep = await accounts.organisation(), await accounts.citizen()
    moment = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: moment)
    value = {"past": (moment - timedelta(seconds=1)).isoformat(), "now": moment.isoformat()}.get(valid_until,
                                                                                                valid_until)
    refused = await _add(client, org, rep, valid_until=value)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "validation_error"
    assert refused.json()["errors"][0]["loc"][:2] == ["body", "valid_until"]
    assert (await client.get(REPS, headers=org.headers)).json()["items"] == []


async def test_the_organisation_extends_shortens_and_lifts_the_term_with_if_match(
        client: httpx.AsyncClient, accounts: Accounts) -> None:
    org, rep = await accounts.organisation(), await accounts.citizen()
    first = clock.now() + timedelta(days=30)
    url = (await _add(client, org, rep, valid_until=first.isoformat())).headers["location"]

    async def patch(body: Any, if_match: str | None = None, who: Actor = org) -> httpx.Response:
        headers = {**who.headers, **({"If-Match": if_match} if if_match else {})}
        return await client.patch(url, headers=headers, json=body)

    later = first + timedelta(days=335)
    missing = await patch({"valid_until": later.isoformat()})
    assert (missing.status_code, missing.json()["code"]) == (428, "precondition_required")
    extended = await patch({"valid_until": later.isoformat()}, '"1"')
    assert extended.status_code == 200, extended.text
    assert (_t(extended.json()["valid_until"]), extended.json()["in_force"], extended.headers["etag"]) == (
        later, True, '"2"')
    stale = await patch({"valid_until": first.isoformat()}, '"1"')  # read before the extension (another tab)
    assert (stale.status_code, stale.json()["code"], stale.headers["etag"]) == (412, "precondition_failed", '"2"')
    sooner = clock.now() + timedelta(days=7)
    shortened = await patch({"valid_until": sooner.isoformat()}, '"2"')
    assert (_t(shortened.json()["valid_until"]), shortened.headers["etag"]) == (sooner, '"3"')
    into_the_past = await patch({"valid_until": (clock.now() - timedelta(days=1)).isoformat()}, '"3"')
    assert (into_the_past.status_code, into_the_past.json()["errors"][0]["loc"]) == (422, ["body", "valid_until"])
    unchanged = await patch({}, '"3"')
    assert (unchanged.status_code, _t(unchanged.json()["valid_until"]), unchanged.headers["etag"]) == (
        200, sooner, '"3"')
    assert (await patch({"citizen_id": "001099012345"}, '"3"')).status_code == 422  # only the term changes
    lifted = await patch({"valid_until": None}, '"3"')
    assert (lifted.json()["valid_until"], lifted.json()["in_force"], lifted.headers["etag"]) == (None, True, '"4"')
    # Only the organisation's own link: another organisation's is the same 404 as none; a citizen may not.
    other_org = await accounts.organisation()
    assert (await patch({"valid_until": None}, "*", other_org)).status_code == 404
    assert (await client.patch(f"{REPS}/{uuid.uuid4()}", headers={**org.headers, "If-Match": "*"},
                               json={})).status_code == 404
    assert (await patch({"valid_until": None}, "*", rep)).status_code == 403
    changes = [c["representative"] for action, c in await _audit(org.id) if action == "representative.changed"]
    assert [(c["old"]["valid_until"], c["new"]["valid_until"]) for c in changes] == [
        (_z(first), _z(later)), (_z(later), _z(sooner)), (_z(sooner), None)]
    assert all(c["old"]["id"] == c["new"]["id"] == url.rsplit("/", 1)[1] for c in changes)


async def test_a_mandate_acts_until_its_term_and_not_at_it(accounts: Accounts,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate's SQL: in force strictly before `valid_until`; expired, it answers as for no mandate at all."""
    org, rep, stranger = await accounts.organisation(), await accounts.citizen(), await accounts.citizen()
    until = clock.now() + timedelta(hours=2)
    await accounts.representative(org, rep, valid_until=until)
    rep_p = await principal_for(await get_verifier().verify(rep.token))
    stranger_p = await principal_for(await get_verifier().verify(stranger.token))
    monkeypatch.setattr(clock, "now", lambda: until - timedelta(microseconds=1))
    async with get_database().read_sessions() as session:
        assert (await acting_applicant(rep_p, org.id, session)).applicant_id == org.id
    monkeypatch.setattr(clock, "now", lambda: until)
    refusals = []
    async with get_database().read_sessions() as session:
        for principal in (rep_p, stranger_p):
            with pytest.raises(ProblemError) as refused:
                await acting_applicant(principal, org.id, session)
            refusals.append((refused.value.code, refused.value.detail))
    assert refusals[0] == refusals[1] and refusals[0][0] == "not_a_representative"


async def test_an_expired_mandate_is_listed_out_of_force_and_renewed_by_extending_it(
        client: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    org, rep = await accounts.organisation(), await accounts.citizen()
    start = clock.now()
    until = start + timedelta(days=1)
    link = await accounts.representative(org, rep, valid_until=until)
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(days=2))
    listed = (await client.get(REPS, headers=org.headers)).json()["items"]
    assert [(i["id"], _t(i["valid_until"]), i["in_force"]) for i in listed] == [(str(link), until, False)]
    again = await _add(client, org, rep)  # the link is still there: renew it, do not add it twice
    assert again.status_code == 409 and "valid_until" in again.json()["detail"]
    renewed = await client.patch(f"{REPS}/{link}", headers={**org.headers, "If-Match": '"1"'},
                                 json={"valid_until": (start + timedelta(days=365)).isoformat()})
    assert (renewed.status_code, renewed.json()["in_force"]) == (200, True)
    # Withdrawing takes an optional If-Match: one read before the renewal does not withdraw the renewed mandate.
    stale = await client.delete(f"{REPS}/{link}", headers={**org.headers, "If-Match": '"1"'})
    assert (stale.status_code, stale.json()["code"], stale.headers["etag"]) == (412, "precondition_failed", '"2"')
    assert (await client.get(f"{REPS}/{link}", headers=org.headers)).status_code == 200
    assert (await client.delete(f"{REPS}/{link}", headers={**org.headers, "If-Match": '"2"'})).status_code == 204
    removed = [c for action, c in await _audit(org.id) if action == "representative.removed"]
    assert removed[0]["representative"]["old"]["valid_until"] == _z(start + timedelta(days=365))


async def test_the_list_filters_on_whether_a_mandate_is_in_force(
        client: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    org, ended, lasting, unlimited = (await accounts.organisation(), await accounts.citizen(),
                                      await accounts.citizen(), await accounts.citizen())
    start = clock.now()
    short = await accounts.representative(org, ended, valid_until=start + timedelta(days=1))
    long = await accounts.representative(org, lasting, valid_until=start + timedelta(days=30))
    open_ended = await accounts.representative(org, unlimited)
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(days=2))

    async def ids(**params: str) -> list[str]:
        response = await client.get(REPS, params=params, headers=org.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [str(short), str(long), str(open_ended)]
    assert await ids(in_force="true") == [str(long), str(open_ended)]
    assert await ids(in_force="false") == [str(short)]
    assert await ids(in_force="true", limit="1") == [str(long)]  # paged within the filter
    bad = await client.get(REPS, params={"in_force": "maybe"}, headers=org.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "in_force"]
