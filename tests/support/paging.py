"""Reading a paged list (API-CONVENTIONS: `limit`, `cursor`, `next_cursor`) to its end."""

from __future__ import annotations

from typing import Any

MAX_PAGES = 1000


async def pages(client: Any, url: str, headers: dict[str, str], limit: int = 200) -> list[dict[str, Any]]:
    """Every page of `url` in order, following `next_cursor` until it is null (a cursor that never gets there
    fails the test instead of hanging it)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        response = await client.get(url, headers=headers,
                                    params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        found.append(response.json())
        previous, cursor = cursor, found[-1]["next_cursor"]
        if cursor is None:
            return found
        assert cursor != previous and len(found) < MAX_PAGES, "the cursor does not advance"


async def every_item(client: Any, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every item of a paged list, in order."""
    return [item for page in await pages(client, url, headers) for item in page["items"]]
