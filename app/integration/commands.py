"""`dvc fake-portal`: run the local stand-in for the national portal (development only)."""

from __future__ import annotations

import typer


def register(cli: typer.Typer) -> None:
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
