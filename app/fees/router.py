"""HTTP routes of the fees domain."""

from fastapi import APIRouter

router = APIRouter()
