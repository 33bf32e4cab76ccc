"""The dossiers domain's auth dependencies: any registered caller, with `X-On-Behalf-Of` for representatives."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header

from app.core.db import get_database
from app.dossiers.access import Viewer
from app.identity.deps import CallerDep, acting_applicant


async def current_viewer(
    caller: CallerDep,
    x_on_behalf_of: Annotated[uuid.UUID | None, Header(
        description="A representative: the organisation account id to act for.")] = None,
) -> Viewer:
    if caller.is_applicant and x_on_behalf_of is not None:
        async with get_database().read_sessions() as session:
            acting = await acting_applicant(caller, x_on_behalf_of, session)
        return Viewer.of(caller, acting.applicant_id)
    return Viewer.of(caller)


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
