"""`dvc fake-portal`: run the local stand-in for the national portal (development only); `dvc portal resync`:
queue every dossier the portal is behind on."""

from __future__ import annotations

import asyncio
import uuid

import typer

portal_cli = typer.Typer(help="National-portal sync.", no_args_is_help=True)


@portal_cli.command("resync")
def resync_command(
    agency: str = typer.Option(None, help="Only this agency's dossiers (default: every agency)."),
    batch: int = typer.Option(500, min=1, max=5000, help="Dossiers per transaction."),
) -> None:
    """Queue the current state of every submitted dossier the portal has not acknowledged in it (never synced,
    or last acknowledged in another status): run it after the portal was disabled or down. `dvc worker` sends
    them."""
    from app.core.db import close_database, get_database
    from app.core.settings import get_settings
    from app.integration.sync_service import resync

    if not get_settings().national_portal_enabled:
        typer.echo("the national portal is disabled (DVC_NATIONAL_PORTAL_ENABLED=false): enable it first", err=True)
        raise typer.Exit(1)

    async def run() -> int:
        queued = 0
        after: uuid.UUID | None = None
        try:
            while True:
                async with get_database().write_sessions() as session, session.begin():
                    answer = await resync(session, None, agency_code=agency, after=after, limit=batch)
                queued += answer.queued
                typer.echo(f"queued {queued}")
                if answer.next_after is None:
                    return queued
                after = answer.next_after
        finally:
            await close_database()

    typer.echo(f"done: {asyncio.run(run())} dossiers queued for the national portal")


def register(cli: typer.Typer) -> None:
    cli.add_typer(portal_cli, name="portal")

    @cli.command("fake-portal")
    def fake_portal(
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8090, help="Port (DVC_NATIONAL_PORTAL_URL defaults to http://127.0.0.1:8090)."),
        mode: str = typer.Option("ok", help="ok | error | timeout | reject (change later: POST /_fake/mode)."),
    ) -> None:
        """Serve a fake national-portal sync endpoint that records what it receives and can be told to fail."""
        import uvicorn

        from app.core.settings import get_settings
        from app.integration.fakeportal import MODES, FakePortal

        if mode not in MODES:
            raise typer.BadParameter(f"mode must be one of {', '.join(MODES)}")
        settings = get_settings()
        portal = FakePortal(client_id=settings.national_portal_client_id or None,
                            secret=settings.national_portal_secret or None, mode=mode)
        uvicorn.run(portal.app, host=host, port=port, log_level="info")
