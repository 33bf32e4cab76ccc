"""The account audit trail: every change to an account, role, status, identity or representative."""

from __future__ import annotations

import enum
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.identity.models import Account, AccountAudit


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return sorted(_plain(v) for v in value)
    return value


def record(session: AsyncSession, account_id: uuid.UUID, actor_id: uuid.UUID | None, action: str,
           changes: dict[str, Any]) -> None:
    """Add one audit row to the caller's transaction; `changes` is field -> {"old": ..., "new": ...}."""
    session.add(AccountAudit(account_id=account_id, actor_id=actor_id, action=action, changes=changes,
                             at=clock.now()))


def apply_changes(account: Account, updates: dict[str, Any]) -> dict[str, Any]:
    """Set each field that really changes on `account`; returns the audit diff (empty if nothing changed)."""
    diff: dict[str, Any] = {}
    for field, new in updates.items():
        old = getattr(account, field)
        if _plain(old) != _plain(new):
            diff[field] = {"old": _plain(old), "new": _plain(new)}
            setattr(account, field, new)
    return diff


def created(account: Account, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: {"old": None, "new": _plain(getattr(account, f))} for f in fields}
