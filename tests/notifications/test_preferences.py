"""Preferences over HTTP, the channel rule (chosen channels only; required messages always reach one channel),
desk and postal dossiers without an account, and the dossier's notification list (visibility, masking)."""

from __future__ import annotations

from tests.notifications.conftest import deliver, message_rows
from tests.support.dossier_fixtures import OPTIONAL_PARTS
from tests.support.identity_fixtures import DEFAULT_AGENCY

URL = "/v1/accounts/me/notification-preferences"


async def test_preferences_defaults_changes_and_bad_input(client, accounts):
    citizen = await accounts.citizen(email="an@example.vn")
    first = await client.get(URL, headers=citizen.headers)
    assert first.status_code == 200
    assert first.json() == {"email": True, "sms": False, "zalo": False, "language": "vi",
                            "required_messages": ["apology", "payment_requested", "refused", "supplement_requested"]}
    no_phone = await client.patch(URL, headers=citizen.headers, json={"sms": True, "zalo": True})
    assert no_phone.status_code == 422
    assert [e["loc"] for e in no_phone.json()["errors"]] == [["body", "sms"], ["body", "zalo"]]
    assert (await client.patch(URL, headers=citizen.headers, json={"language": "fr"})).status_code == 422
    assert (await client.patch(URL, headers=citizen.headers, json={"push": True})).status_code == 422
    assert (await client.patch(URL, headers=citizen.headers, json={"email": None})).status_code == 422
    changed = await client.patch(URL, headers=citizen.headers, json={"email": False, "language": "en"})
    assert changed.status_code == 200 and (changed.json()["email"], changed.json()["language"]) == (False, "en")
    assert (await client.get(URL, headers=citizen.headers)).json()["email"] is False

    with_phone = await accounts.citizen(phone="0987654321")
    assert (await client.patch(URL, headers=with_phone.headers, json={"sms": True})).json()["sms"] is True
    official = await accounts.official()
    assert (await client.get(URL, headers=official.headers)).status_code == 403
    assert (await client.get(URL)).status_code == 401


async def test_chosen_channels_only(client, flow, accounts, mail, sms, zalo):
    code = await flow.procedure()
    citizen = await accounts.citizen(email="binh@example.vn", phone="0987654321")
    await client.patch(URL, headers=citizen.headers, json={"email": False, "sms": True})
    _, dossier = await flow.submitted(code, citizen)
    await flow.act(flow.reception, dossier["id"], "receive")
    await deliver()
    assert mail.messages == [] and zalo.received == []
    assert len(sms.received) == 2 and "đã được tiếp nhận" in sms.received[1]["Content"]


async def test_required_messages_reach_a_channel_when_everything_is_off(client, flow, accounts, mail, sms):
    code = await flow.procedure()
    citizen = await accounts.citizen(email="chi@example.vn", phone="0987654321")
    off = await client.patch(URL, headers=citizen.headers, json={"email": False, "sms": False, "zalo": False})
    assert off.status_code == 200
    _, refused = await flow.submitted(code, citizen)
    await flow.act(flow.reception, refused["id"], "reject", reason="Hồ sơ giả mạo")
    _, supplemented = await flow.submitted(code, citizen)
    await flow.act(flow.reception, supplemented["id"], "receive")
    await flow.act(flow.reception, supplemented["id"], "request_supplement", items=["Đơn có chữ ký"])
    await deliver()
    # Only the refusal and the supplement request went out, on the first channel the applicant has (email).
    assert sorted(m["Subject"].split("] ", 1)[1] for m in mail.messages) == [
        "Từ chối tiếp nhận giải quyết hồ sơ", "Yêu cầu bổ sung, hoàn thiện hồ sơ"]
    assert sms.received == []
    rows = await message_rows()
    assert [(r.kind, r.channel, r.required) for r in rows] == [
        ("refused", "email", True), ("supplement_requested", "email", True)]
    listed = (await client.get(f"/v1/dossiers/{refused['id']}/notifications", headers=citizen.headers)).json()
    assert [(i["kind"], i["required"], i["recipient"]) for i in listed["items"]] == [
        ("refused", True, "c***@example.vn")]


async def test_required_message_falls_back_to_sms_without_email_channel(client, flow, accounts, sms):
    code = await flow.procedure()  # no SMTP configured: email is off for the whole service
    citizen = await accounts.citizen(email="dung@example.vn", phone="0987654321")
    _, dossier = await flow.submitted(code, citizen)
    await flow.act(flow.reception, dossier["id"], "reject", reason="Sai thẩm quyền")
    await deliver()
    assert len(sms.received) == 1 and "bị từ chối tiếp nhận. Lý do: Sai thẩm quyền" in sms.received[0]["Content"]
    assert [(r.kind, r.channel, r.required) for r in await message_rows()] == [("refused", "sms", True)]


async def test_desk_dossier_without_account_uses_the_intake_contact(client, flow, dossiers, mail, sms):
    code = await dossiers.procedure(DEFAULT_AGENCY, parts=OPTIONAL_PARTS)
    bad = await client.post("/v1/dossiers/intake", headers=flow.reception.headers, json={
        "procedure_code": code, "channel": "post", "applicant": {"citizen_id": "001099012345", "name": "Lê Văn Em"},
        "contact": {"email": "not-an-email", "phone": "12345"}})
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["errors"]} >= {("body", "contact", "email"),
                                                               ("body", "contact", "phone")}
    response = await client.post("/v1/dossiers/intake", headers=flow.reception.headers, json={
        "procedure_code": code, "channel": "post", "applicant": {"citizen_id": "001099012345", "name": "Lê Văn Em"},
        "delivery": {"method": "post", "address": "12 Nguyễn Du, Hà Tĩnh"},
        "contact": {"email": "em@example.vn", "phone": "0912000111"}, "submit": True})
    assert response.status_code == 201, response.text
    did = response.json()["id"]
    await flow.act(flow.reception, did, "receive")
    await deliver()
    assert [m["To"] for m in mail.messages] == ["em@example.vn", "em@example.vn"]
    received = mail.messages[1].get_body(preferencelist=("plain",))
    assert received is not None
    text = received.get_content()
    assert text.startswith("Kính gửi Lê Văn Em,")
    assert "Hình thức nhận kết quả: qua dịch vụ bưu chính công ích - 12 Nguyễn Du, Hà Tĩnh." in text
    assert [m["Phone"] for m in sms.received] == ["84912000111", "84912000111"]

    official_view = await client.get(f"/v1/dossiers/{did}/notifications", headers=flow.reception.headers)
    assert official_view.status_code == 200
    assert {i["recipient"] for i in official_view.json()["items"]} == {"e***@example.vn", "09******11"}


async def test_notification_list_visibility(client, flow, accounts, mail):
    code = await flow.procedure()
    citizen, dossier = await flow.submitted(code)
    await deliver()
    url = f"/v1/dossiers/{dossier['id']}/notifications"
    stranger = await accounts.citizen()
    elsewhere = await accounts.official("000.00.99.H99", ["reception"])
    integrator = await accounts.client(["dossiers:read"], [DEFAULT_AGENCY])
    assert (await client.get(url, headers=stranger.headers)).status_code == 404
    assert (await client.get(url, headers=elsewhere.headers)).status_code == 404
    assert (await client.get(url, headers=integrator.headers)).status_code == 403
    page = await client.get(f"{url}?limit=1", headers=citizen.headers)
    assert page.status_code == 200 and len(page.json()["items"]) == 1 and page.json()["next_cursor"] is None
