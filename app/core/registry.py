"""Imports every domain's tables so that metadata (migrations, tests) sees the whole schema."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

DOMAINS = ("core.outbox", "core.idempotency", "core.delivery", "core.ratelimit", "identity", "catalogue", "dossiers",
           "workflow", "fees", "reporting", "integration", "notifications", "complaints")


def load_all_models() -> MetaData:
    from app.core.db import Base

    for domain in DOMAINS:
        module = f"app.{domain}" if domain.startswith("core.") else f"app.{domain}.models"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:  # a real import error inside an existing module must surface
                raise
    return Base.metadata
