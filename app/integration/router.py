"""HTTP routes of the integration domain."""

from fastapi import APIRouter

router = APIRouter()
