"""Vietnamese text normalisation for search: accents and case never decide whether a procedure is found.

The same function feeds the stored search columns (on write) and the query (on read), so both databases
compare plain ASCII words and give the same answers without unaccent/collation extensions.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> str:
    """`Cấp Giấy chứng nhận` -> `cap giay chung nhan`: NFD, strip marks, đ -> d, lower, words split by one space."""
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    stripped = stripped.replace("đ", "d").replace("Đ", "D").lower()
    return " ".join(_NON_WORD.split(stripped)).strip()


def search_column(*parts: str | None) -> str:
    """Stored form: words padded with one space on each side so `LIKE '% word%'` means 'a word starting with'."""
    words = " ".join(normalise(p) for p in parts if p)
    return f" {' '.join(words.split())} "


def query_words(q: str, limit: int = 12) -> list[str]:
    """Distinct normalised words of a query, in order; capped so a pasted paragraph stays cheap."""
    seen: list[str] = []
    for word in normalise(q).split():
        if word not in seen:
            seen.append(word)
    return seen[:limit]
