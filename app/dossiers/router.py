"""HTTP routes of the dossiers domain."""

from fastapi import APIRouter

router = APIRouter()
