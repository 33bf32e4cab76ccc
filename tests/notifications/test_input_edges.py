"""Edges of the notification routes that a careless or concurrent caller reaches."""

from __future__ import annotations

import asyncio

URL = "/v1/accounts/me/notification-preferences"


async def test_concurrent_first_preference_changes_all_succeed_and_all_stick(client, accounts):
    # Two apps of one citizen saving different choices at once: each used to read the defaults, then insert
    # (a unique violation, 500, on PostgreSQL) or write back every column (one change silently lost).
    patches = [{"email": False}, {"sms": True}, {"zalo": True}, {"language": "en"}]
    for n in range(3):
        citizen = await accounts.citizen(email=f"lan{n}@example.vn", phone="0987654321")
        answers = await asyncio.gather(*[client.patch(URL, headers=citizen.headers, json=p) for p in patches])
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers if a.status_code != 200]
        saved = (await client.get(URL, headers=citizen.headers)).json()
        assert (saved["email"], saved["sms"], saved["zalo"], saved["language"]) == (False, True, True, "en")
