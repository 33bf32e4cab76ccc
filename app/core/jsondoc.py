"""Bounds on free JSON that callers send (a dossier's form, a version's form schema).

Python's parser lets in what JSON cannot carry (NaN, infinities, lone surrogates) and what PostgreSQL refuses
(NUL in text), and nests as deep as its recursion allows: a form 900 levels deep validated, then failed
serialisation with a 500. The walk is iterative so the check itself cannot run out of stack.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_JSON_DEPTH = 32  # objects and arrays inside one another; real forms use two or three


def json_document(value: Any, *, max_bytes: int | None = None) -> Any:
    """`value` if JSON can carry it, nested at most MAX_JSON_DEPTH deep and, with `max_bytes`, at most that long
    as UTF-8 JSON; else ValueError (a 422 on the field)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("text must be valid Unicode (no lone surrogates)") from None
            if "\x00" in item:  # PostgreSQL's jsonb refuses it, SQLite would keep it: refused on both
                raise ValueError("text must not contain NUL characters")
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"JSON may nest at most {MAX_JSON_DEPTH} levels deep")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    if max_bytes is not None and len(json.dumps(value, ensure_ascii=False).encode()) > max_bytes:
        raise ValueError(f"at most {max_bytes} bytes of JSON")
    return value
