"""The `dvc` command: serve helpers, seed data, admin bootstrap, maintenance tasks."""

from __future__ import annotations

import json
import socket
import sys

import typer

from app.core.settings import get_settings

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="dvc-service administration.")


@cli.command("openapi")
def export_openapi(output: str = typer.Option("-", help="File to write, or - for standard output.")) -> None:
    """Print the OpenAPI document (identical in every DVC_ENV; needs no database and no storage directory)."""
    from app.main import create_app

    document = json.dumps(create_app(serving=False).openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if output == "-":
        sys.stdout.write(document)
    else:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(document)


@cli.command("settings")
def show_settings() -> None:
    """Validate the DVC_* settings and print them (secrets masked)."""
    settings = get_settings()
    for key, value in settings.model_dump().items():
        shown = "***" if any(s in key for s in ("password", "secret", "key")) and value else value
        typer.echo(f"DVC_{key.upper()}={shown}")


@cli.command("seed")
def seed() -> None:
    """Load the sample catalogue (idempotent: a second run changes nothing)."""
    import asyncio
    import importlib

    try:
        sample = importlib.import_module("app.catalogue.sample")
    except ModuleNotFoundError:
        typer.echo("seed: no sample catalogue in this build; nothing to load")
        return
    typer.echo(asyncio.run(sample.load_sample()))


def _register_domain_commands() -> None:
    """Each domain may offer commands in `app/<domain>/commands.py` as `register(cli: typer.Typer)`."""
    import importlib

    core = {"worker": "app.core.worker", "secrets": "app.core.secrets", "migrations": "app.core.migrations"}
    for domain in ("identity", "catalogue", "dossiers", "workflow", "fees", "reporting", "integration",
                   "notifications", *core):
        module_name = core.get(domain, f"app.{domain}.commands")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(cli)


def failure_line(error: BaseException) -> str | None:
    """One line for a failure of the surroundings rather than of the program: a database that cannot be reached
    or is not migrated, a file that cannot be read or written. None for anything else (a bug keeps its trace)."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError):
        text = str(error.orig or error).strip()
        reason = text.splitlines()[0] if text else type(error).__name__
        cause = getattr(error.orig, "__cause__", None)  # asyncpg's own error, under SQLAlchemy's adapter
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(cause, "sqlstate", None)
        # SQLite says "no such table/column"; PostgreSQL undefined_table (42P01) or undefined_column (42703).
        if sqlstate in ("42P01", "42703") or "no such table" in reason or "no such column" in reason:
            return f"the database is not migrated ({reason}); run `dvc migrate`"
        return f"database error: {reason} (check DVC_DATABASE_URL)"
    if isinstance(error, OSError):
        # A refused or unresolvable connection is the database's (the only server a command talks to); any other
        # OSError names its file.
        where = f": {error.filename}" if error.filename else ""
        reason = error.strerror or str(error) or type(error).__name__
        if isinstance(error, ConnectionError | socket.gaierror | TimeoutError) and not error.filename:
            return f"cannot reach the database: {error} (check DVC_DATABASE_URL)"
        return f"{reason}{where}"
    return None


def main(argv: list[str] | None = None) -> None:
    _register_domain_commands()
    try:
        cli(args=argv, prog_name="dvc")
    except Exception as error:
        # Typer would print a page of traceback (with local variables, settings included) for what is an
        # operator's problem: say it in one line on stderr and exit 1 instead.
        line = failure_line(error)
        if line is None:
            raise
        sys.stderr.write(f"dvc: {line}\n")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
