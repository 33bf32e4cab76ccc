"""HTTP routes of the reporting domain."""

from fastapi import APIRouter

router = APIRouter()
