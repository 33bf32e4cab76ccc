"""HTTP routes of the workflow domain."""

from fastapi import APIRouter

router = APIRouter()
