"""The complaints domain's auth dependencies: who reads, who answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.dossiers.access import Viewer
from app.dossiers.deps import ViewerDep
from app.identity.deps import Principal, agency_official, forbidden, official


async def complaint_reader(viewer: ViewerDep) -> Viewer:
    """The applicant (or its representative, X-On-Behalf-Of) and officials: a complaint is between the applicant and
    the agency, never for integrator clients (403 `forbidden_role`, whatever the complaint)."""
    if viewer.principal.kind == "client":
        raise forbidden("forbidden_role", "Complaints are read by the applicant and the agency's officials.")
    return viewer


ComplaintReaderDep = Annotated[Viewer, Depends(complaint_reader)]
# Answering: an official holding reception or processing at their agency (a system administrator's rank is none).
AnsweringOfficial = Annotated[Principal, agency_official("reception", "processing")]
# Listing: such an official (their agency's), or a system administrator (every agency's).
ListingOfficial = Annotated[Principal, official("reception", "processing")]
