"""`dvc dev-sign-result` (DVC_ENV=dev only): a result PDF signed by the development signer, for `issue_result`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from app.core.settings import get_settings


def register(cli: typer.Typer) -> None:
    cli.command("dev-sign-result")(dev_sign_result)


def dev_sign_result(
    output: Path = typer.Option(..., help="Where to write the signed PDF."),
    source: Path | None = typer.Option(None, "--input", exists=True, dir_okay=False,
                                       help="The PDF to sign; without it, a one-page sample result."),
    title: str = typer.Option("Kết quả giải quyết thủ tục hành chính (thử nghiệm)",
                              help="The sample result's title (without --input)."),
) -> None:
    """Sign a result PDF with the development signer, whose CA dev trusts (DVC_ENV=dev only)."""
    from app.core.pdf import render_document
    from app.workflow import devsigner

    settings = get_settings()
    if not settings.dev_features:
        typer.echo("dev-sign-result: refused: the development signer exists only with DVC_ENV=dev", err=True)
        raise typer.Exit(2)
    if settings.signature_trust_roots.strip():
        typer.echo("dev-sign-result: warning: DVC_SIGNATURE_TRUST_ROOTS is set, so the service trusts those "
                   "roots, not the development CA; issue_result will refuse this file", err=True)
    pdf = source.read_bytes() if source is not None else render_document(issuer="dvc-service (development)",
                                                                          title=title)
    try:
        signed = asyncio.run(devsigner.sign_pdf(settings, pdf))
    except Exception as error:  # pyHanko raises many kinds on a file that is not a PDF
        typer.echo(f"dev-sign-result: cannot sign {source}: not a readable PDF ({error})", err=True)
        raise typer.Exit(1) from None
    output.write_bytes(signed)
    typer.echo(f"dev-sign-result: wrote {output}, signed by the development CA "
               f"{devsigner.ca_path(settings)}", err=True)
