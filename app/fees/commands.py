"""`dvc payments ...`: payment maintenance commands."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

import typer

payments_cli = typer.Typer(no_args_is_help=True, help="Payments: reconciliation with the providers.")


@payments_cli.command("reconcile")
def reconcile_command(
    older_than_s: float = typer.Option(
        None, help="Only attempts idle this long (default DVC_PAYMENT_RECONCILE_AFTER_S)."),
    limit: int = typer.Option(200, min=1, help="At most this many attempts in one pass."),
) -> None:
    """Ask the providers about attempts stuck in started/submitted, settle them, expire old ones."""
    from app.core.db import close_database
    from app.fees.reconcile import reconcile

    async def run() -> dict[str, int]:
        try:
            return asdict(await reconcile(older_than_s=older_than_s, limit=limit))
        finally:
            await close_database()

    report = asyncio.run(run())
    typer.echo(" ".join(f"{k}={v}" for k, v in report.items()))


def register(cli: typer.Typer) -> None:
    cli.add_typer(payments_cli, name="payments")
