"""Which number a Zalo message goes to: the account's own phone as it is now, never a dossier's contact (the
applicant consented to Zalo for their own number). Email and SMS keep using the dossier's contact first."""

from __future__ import annotations

from tests.notifications.conftest import deliver, message_rows
from tests.support.dossier_fixtures import OPTIONAL_PARTS
from tests.support.identity_fixtures import DEFAULT_AGENCY

URL = "/v1/accounts/me/notification-preferences"
OWN = "0912345678"
CONTACT = "0988000111"  # given at the desk: a relative who brought the dossier


async def _desk_dossier(client, flow, dossiers, citizen, contact):  # type: ignore[no-untyped-def]
    """A dossier registered at the desk for `citizen`'s account (found by CCCD), filed at once."""
    code = await dossiers.procedure(DEFAULT_AGENCY, parts=OPTIONAL_PARTS)
    body = {"procedure_code": code, "channel": "desk", "submit": True,
            "applicant": {"citizen_id": citizen.citizen_id, "name": citizen.name}}
    if contact:
        body["contact"] = contact
    response = await client.post("/v1/dossiers/intake", headers=flow.reception.headers, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "submitted"
    return response.json()["id"]


async def test_zalo_goes_to_the_accounts_own_phone_and_sms_to_the_desk_contact(client, flow, accounts, dossiers,
                                                                               sms, zalo):
    citizen = await accounts.citizen(phone=OWN)
    chosen = await client.patch(URL, headers=citizen.headers, json={"email": False, "sms": True, "zalo": True})
    assert chosen.status_code == 200, chosen.text
    did = await _desk_dossier(client, flow, dossiers, citizen, {"phone": CONTACT})
    await flow.act(flow.reception, did, "receive")
    await deliver()
    # Before: both went to the number typed at the desk, so the relative got the applicant's Zalo messages.
    assert [m["phone"] for m in zalo.received] == ["84912345678", "84912345678"]
    assert [m["Phone"] for m in sms.received] == ["84988000111", "84988000111"]
    listed = (await client.get(f"/v1/dossiers/{did}/notifications", headers=citizen.headers)).json()["items"]
    assert {(i["channel"], i["recipient"]) for i in listed} == {("zalo", "09******78"), ("sms", "09******11")}


async def test_zalo_follows_the_accounts_current_phone_not_the_copy_taken_at_intake(client, flow, accounts,
                                                                                   dossiers, zalo):
    citizen = await accounts.citizen(phone=OWN)
    await client.patch(URL, headers=citizen.headers, json={"email": False, "zalo": True})
    did = await _desk_dossier(client, flow, dossiers, citizen, None)  # the account's number copied as contact
    await deliver()
    changed = await client.patch("/v1/accounts/me", headers=citizen.headers, json={"phone": "0977111222"})
    assert changed.status_code == 200, changed.text
    await flow.act(flow.reception, did, "receive")
    await deliver()
    assert [m["phone"] for m in zalo.received] == ["84912345678", "84977111222"]


async def test_an_account_without_a_phone_gets_no_zalo_even_for_a_required_message(client, flow, accounts,
                                                                                  dossiers, zalo):
    citizen = await accounts.citizen(phone=OWN)
    await client.patch(URL, headers=citizen.headers, json={"email": False, "zalo": True})
    removed = await client.patch("/v1/accounts/me", headers=citizen.headers, json={"phone": None})
    assert removed.status_code == 200 and removed.json()["phone"] is None
    did = await _desk_dossier(client, flow, dossiers, citizen, {"phone": CONTACT})
    await flow.act(flow.reception, did, "reject", reason="Không thuộc thẩm quyền")  # required (form 03)
    await deliver()
    # Zalo is the only channel configured: the number typed at the desk never consented to it.
    assert zalo.received == [] and await message_rows() == []


async def test_an_online_dossier_still_uses_the_accounts_phone_for_zalo(client, flow, accounts, zalo):
    citizen = await accounts.citizen(phone=OWN)
    await client.patch(URL, headers=citizen.headers, json={"email": False, "zalo": True})
    _, dossier = await flow.submitted(await flow.procedure(), citizen)
    await flow.act(flow.reception, dossier["id"], "receive")
    await deliver()
    assert [m["phone"] for m in zalo.received] == ["84912345678", "84912345678"]
