"""Anchor: a FastAPI endpoint returning fixed JSON (what /healthz does, minus the app around it)."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

from bench.model import Request

REQUEST = Request("GET", "/json")

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


class Status(BaseModel):
    status: str


@app.get("/json")
async def fixed_json() -> Status:
    return Status(status="ok")
