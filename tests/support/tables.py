"""Emptying every table between tests (tests/conftest.py) or between the examples of one test."""

from __future__ import annotations

from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection


async def empty_all_tables() -> None:
    """Every table emptied, and the working-calendar overrides and agency signers each process caches forgotten
    (ids start again at 1: a kept signer's key version would name another test's key).

    Only the tables holding rows are emptied: one query finds them (~1 ms). On PostgreSQL they are emptied by
    DELETE, not TRUNCATE: a TRUNCATE makes new files for every table and index and syncs them at commit, which
    cost 100-800 ms after each test (a third of the suite's time); a DELETE of a test's few rows costs a few."""
    from app.core.db import get_database
    from app.core.pdfsign import forget_agency_signers
    from app.core.registry import load_all_models
    from app.workflow.calendar_service import forget_cached_overrides

    tables = load_all_models().sorted_tables
    probe = " UNION ALL ".join(f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in tables)
    async with get_database().write_engine.begin() as connection:
        holding = set((await connection.execute(text(probe))).scalars())
        if not holding:
            pass
        elif connection.dialect.name == "postgresql":
            await _delete_on_postgresql(connection, [t for t in tables if t.name in holding])
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
    forget_agency_signers()


async def _delete_on_postgresql(connection: AsyncConnection, tables: list[Table]) -> None:
    """DELETE every row with triggers off (the append-only guards, and the foreign keys' checks: so the order
    does not matter), then the identity sequences back to 1, as TRUNCATE ... RESTART IDENTITY did.

    Turning triggers off takes a superuser (the test server's user is one: see .ci/run); without it, TRUNCATE."""
    try:
        async with connection.begin_nested():
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
    except DBAPIError:
        names = ", ".join(f'"{t.name}"' for t in tables)
        await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    for table in tables:
        await connection.execute(table.delete())
    for table in tables:
        if table.autoincrement_column is not None:
            await connection.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', "
                                          f"'{table.autoincrement_column.name}'), 1, false)"))
