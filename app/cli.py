"""The `dvc` command: serve helpers, seed data, admin bootstrap, maintenance tasks."""

from __future__ import annotations

import json
import sys

import typer

from app.core.settings import get_settings

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="dvc-service administration.")


@cli.command("openapi")
def export_openapi(output: str = typer.Option("-", help="File to write, or - for standard output.")) -> None:
    """Print the OpenAPI document (identical in every DVC_ENV)."""
    from app.main import create_app

    document = json.dumps(create_app().openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
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
    """Load the sample catalogue (idempotent); a no-op while the catalogue has no sample loader."""
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

    core = {"worker": "app.core.worker", "secrets": "app.core.secrets"}
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


def main() -> None:
    _register_domain_commands()
    cli()


if __name__ == "__main__":
    main()
