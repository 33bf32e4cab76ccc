"""Emptying every table between tests (tests/conftest.py) or between the examples of one test."""

from __future__ import annotations


async def empty_all_tables() -> None:
    """Every table emptied, and the working-calendar overrides each process caches forgotten."""
    from sqlalchemy import text

    from app.core.db import get_database
    from app.core.registry import load_all_models
    from app.workflow.calendar_service import forget_cached_overrides

    metadata = load_all_models()
    async with get_database().write_engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            # Append-only tables refuse DELETE by trigger (PostgreSQL's TRUNCATE fires no row triggers):
            # drop the triggers for the clean-up and put them back as they were.
            triggers = (await connection.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL"))).all()
            for name, _ in triggers:
                await connection.execute(text(f'DROP TRIGGER "{name}"'))
            for table in reversed(metadata.sorted_tables):
                await connection.execute(table.delete())
            for _, sql in triggers:
                await connection.execute(text(sql))
    forget_cached_overrides()
