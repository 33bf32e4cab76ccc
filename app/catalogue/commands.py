"""`dvc catalogue import FILE` and `dvc catalogue export`: the bulk format of POST /v1/catalogue/import."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import typer

from app.core.problems import ProblemError

catalogue_cli = typer.Typer(no_args_is_help=True, help="Import and export the procedure catalogue.")


async def _import(raw: object) -> str:
    from app.catalogue.importer import import_document
    from app.catalogue.sample import describe
    from app.core.db import close_database, get_database

    try:
        async with get_database().write_sessions() as session, session.begin():
            return describe(await import_document(session, None, raw))
    finally:
        await close_database()


async def _export() -> str:
    from app.catalogue.importer import export_document
    from app.core.db import close_database, get_database

    try:
        async with get_database().read_sessions() as session:
            document = await export_document(session)
    finally:
        await close_database()
    return json.dumps(document.model_dump(mode="json"), ensure_ascii=False, indent=1) + "\n"


@catalogue_cli.command("import")
def import_file(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A catalogue JSON document.")
                ) -> None:
    """Validate the whole file, then write it; nothing is written if one entry is bad."""
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        typer.echo(f"import refused: {file} is not UTF-8 text ({error.reason} at byte {error.start})", err=True)
        raise typer.Exit(1) from None
    except json.JSONDecodeError as error:
        typer.echo(f"import refused: {file} is not JSON ({error})", err=True)
        raise typer.Exit(1) from None
    except RecursionError:  # json.loads recurses once per level of nesting
        typer.echo(f"import refused: {file} nests too deeply to be a catalogue", err=True)
        raise typer.Exit(1) from None
    try:
        typer.echo(asyncio.run(_import(raw)))
    except ProblemError as error:
        typer.echo(f"import refused: {error.detail}", err=True)
        for item in error.errors or []:
            typer.echo(f"  {item.get('pointer') or item.get('loc')}: {item.get('msg')}", err=True)
        raise typer.Exit(1) from error


@catalogue_cli.command("export")
def export_file(output: str = typer.Option("-", help="File to write, or - for standard output.")) -> None:
    """Write agencies, fields and procedures (the versions in force and scheduled) in the import format."""
    document = asyncio.run(_export())
    if output == "-":
        sys.stdout.write(document)
    else:
        Path(output).write_text(document, encoding="utf-8")


def register(cli: typer.Typer) -> None:
    cli.add_typer(catalogue_cli, name="catalogue")
