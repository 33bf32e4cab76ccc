"""A small in-process cache whose entries expire (each worker process keeps its own)."""

from __future__ import annotations

import time
from typing import Any


class TTLCache:
    """Entries live `ttl` seconds (each put says how long); the oldest goes first when it is full."""

    def __init__(self, max_entries: int = 256) -> None:
        self.entries: dict[Any, tuple[float, Any]] = {}
        self.max_entries = max_entries

    def get(self, key: Any) -> Any | None:
        hit = self.entries.get(key)
        if hit is None or hit[0] < time.monotonic():
            self.entries.pop(key, None)
            return None
        return hit[1]

    def put(self, key: Any, value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        if len(self.entries) >= self.max_entries:
            self.entries.pop(next(iter(self.entries)))
        self.entries[key] = (time.monotonic() + ttl, value)

    def clear(self) -> None:
        self.entries.clear()
