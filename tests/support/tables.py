"""Emptying every table between tests (tests/conftest.py) or between the examples of one test."""

from __future__ import annotations


async def empty_all_tables() -> None:
    """Every table emptied, and the working-calendar overrides each process caches forgotten.

    Only the tables holding rows are emptied: one query finds them (~1 ms), where a TRUNCATE of all 38 tables
    cost PostgreSQL 80-100 ms (new files for every table and index) after each of a thousand tests."""
    from sqlalchemy import text

    from app.core.db import get_database
    from app.core.registry import load_all_models
    from app.workflow.calendar_service import forget_cached_overrides

    tables = load_all_models().sorted_tables
    probe = " UNION ALL ".join(f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in tables)
    async with get_database().write_engine.begin() as connection:
        holding = set((await connection.execute(text(probe))).scalars())
        if not holding:
            pass
        elif connection.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables if t.name in holding)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            # Append-only tables refuse DELETE by trigger (PostgreSQL's TRUNCATE fires no row triggers):
            # drop the triggers for the clean-up and put them back as they were.
            triggers = (await connection.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL"))).all()
            for name, _ in triggers:
                await connection.execute(text(f'DROP TRIGGER "{name}"'))
            for table in reversed(tables):
                if table.name in holding:
                    await connection.execute(table.delete())
            for _, sql in triggers:
                await connection.execute(text(sql))
    forget_cached_overrides()
