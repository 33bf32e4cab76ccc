"""The seam between the workflow and the fees domain (step 2.3 and fees due on the result).

The workflow asks a `FeeGate` whether fees are due or settled and tells it when an action creates an
obligation. Until the fees domain registers its gate, `VersionFeeGate` answers from the pinned procedure
version alone (fees exist if the version lists any; nothing is ever settled without a fees domain).
"""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

FeeStage = Literal["before_processing", "on_result"]


@dataclass(frozen=True)
class Exemption:
    """An official's decision that one fee line is not charged (by index in the version's fee_items)."""

    item: int
    reason: str


class FeeGate(Protocol):
    async def has_fees(self, session: AsyncSession, dossier: Any, stage: FeeStage) -> bool:
        """Whether the pinned version charges anything at this stage."""
        ...

    async def settled(self, session: AsyncSession, dossier: Any, stage: FeeStage) -> bool:
        """Whether the obligation of this stage is paid or exempted in full (True when nothing is due)."""
        ...

    async def create_obligation(self, session: AsyncSession, dossier: Any, stage: FeeStage, *,
                                official_id: uuid.UUID | None, exemptions: list[Exemption]) -> None:
        """Create the stage's obligation from the version's fee items (called inside the transition)."""
        ...


def _due(item: dict[str, Any]) -> str:
    return str(item.get("due", "before_processing"))


class VersionFeeGate:
    """Answers from the procedure version only; used while no fees domain is registered."""

    async def _items(self, session: AsyncSession, dossier: Any, stage: FeeStage) -> list[dict[str, Any]]:
        from app.catalogue import service as catalogue

        version = await catalogue.get_version(session, dossier.procedure_code, dossier.procedure_version)
        items = list(getattr(version, "fee_items", None) or [])
        return [i for i in items if _due(i) == stage and int(i.get("amount", 0)) > 0]

    async def has_fees(self, session: AsyncSession, dossier: Any, stage: FeeStage) -> bool:
        return bool(await self._items(session, dossier, stage))

    async def settled(self, session: AsyncSession, dossier: Any, stage: FeeStage) -> bool:
        return not await self.has_fees(session, dossier, stage)

    async def create_obligation(self, session: AsyncSession, dossier: Any, stage: FeeStage, *,
                                official_id: uuid.UUID | None, exemptions: list[Exemption]) -> None:
        return None


_gate: FeeGate | None = None


def register_fee_gate(gate: FeeGate) -> None:
    """Called by the fees domain (app/fees/gate.py) when it is imported."""
    global _gate
    _gate = gate


def fee_gate() -> FeeGate:
    """The fees domain's gate when it ships (app/fees/gate.py registers itself), else the version-only one."""
    if _gate is None:
        try:
            importlib.import_module("app.fees.gate")
        except ModuleNotFoundError as error:
            if error.name != "app.fees.gate":
                raise
        if _gate is None:
            register_fee_gate(VersionFeeGate())
    assert _gate is not None
    return _gate
