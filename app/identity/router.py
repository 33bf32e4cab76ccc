"""HTTP routes of the identity domain."""

from fastapi import APIRouter

router = APIRouter()
