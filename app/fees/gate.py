"""The fees domain's answer to the workflow's FeeGate (app/workflow/hooks.py), registered on import.

- has_fees: the pinned version charges something at this stage (exemptions do not change that: step 2.3
  is still taken, and the official records the exemption there);
- settled: the stage's obligation is paid in full (a zero obligation — every line exempt — is settled);
  no obligation is settled only when the version charges nothing at that stage;
- create_obligation: called inside the workflow's transaction by request_payment / issue_result.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.fees import obligations
from app.workflow.hooks import Exemption, FeeStage, register_fee_gate


class FeesDomainGate:
    async def has_fees(self, session: AsyncSession, dossier: Any, stage: FeeStage) -> bool:
        items = await obligations.stage_items(session, dossier, stage)
        return any(int(item.get("amount", 0)) > 0 for _, item in items)

    async def settled(self, session: AsyncSession, dossier: Any, stage: FeeStage) -> bool:
        obligation = await obligations.get_obligation(session, dossier.id, stage)
        if obligation is None:
            return not await self.has_fees(session, dossier, stage)
        return obligation.paid >= obligation.due

    async def create_obligation(self, session: AsyncSession, dossier: Any, stage: FeeStage, *,
                                official_id: uuid.UUID | None, exemptions: list[Exemption]) -> None:
        await obligations.create_obligation(session, dossier, stage, official_id=official_id,
                                            exemptions=exemptions)


register_fee_gate(FeesDomainGate())
