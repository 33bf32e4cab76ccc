"""`dvc create-admin` (any environment) and `dvc dev-token` (DVC_ENV=dev only)."""

from __future__ import annotations

import asyncio
import sys

import typer

from app.core.settings import get_settings


def register(cli: typer.Typer) -> None:
    cli.command("create-admin")(create_admin)
    cli.command("dev-token")(dev_token)


def create_admin(
    issuer: str = typer.Option(..., help="The token issuer (`iss`) of the administrator's identity."),
    subject: str = typer.Option(..., help="The token subject (`sub`) of the administrator's identity."),
    email: str | None = typer.Option(None, help="Contact email."),
    name: str | None = typer.Option(None, help="Display name."),
) -> None:
    """Create a system administrator bound to (issuer, subject): the first admin of a new installation."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.core.db import build_null_pool_engine
    from app.core.problems import ProblemError
    from app.identity import staff

    async def run() -> str:
        engine = build_null_pool_engine(get_settings())
        try:
            async with async_sessionmaker(engine)() as session, session.begin():
                account = await staff.create_admin(session, issuer=issuer, subject=subject, email=email,
                                                   name=name)
                return str(account.id)
        finally:
            await engine.dispose()

    try:
        account_id = asyncio.run(run())
    except ProblemError as error:
        typer.echo(f"create-admin: {error.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(account_id)


def dev_token(
    citizen: str | None = typer.Option(None, help="A citizen's 12-digit personal identification number."),
    org: str | None = typer.Option(None, help="An organisation's tax code."),
    official: str | None = typer.Option(None, help="An official's email (bind it with POST /v1/officials)."),
    client: str | None = typer.Option(None, help="An integrator client's client_id (register it with "
                                                 "POST /v1/clients)."),
    name: str | None = typer.Option(None, help="The `name` claim."),
    lifetime: int = typer.Option(3600, min=60, max=86400, help="Seconds until the token expires."),
) -> None:
    """Print a token signed by the development identity provider (DVC_ENV=dev only)."""
    from app.identity import devidp
    from app.identity.identifiers import is_citizen_id, is_tax_code

    settings = get_settings()
    if not settings.dev_features:
        typer.echo("dev-token: refused: the development identity provider exists only with DVC_ENV=dev",
                   err=True)
        raise typer.Exit(2)
    if sum(x is not None for x in (citizen, org, official, client)) != 1:
        typer.echo("dev-token: give exactly one of --citizen, --org, --official, --client", err=True)
        raise typer.Exit(2)
    claims: dict[str, str] = {}
    if citizen is not None:
        if not is_citizen_id(citizen):
            typer.echo("dev-token: warning: not a 12-digit identification number; registration will refuse it",
                       err=True)
        subject = f"citizen:{citizen}"
        claims[settings.oidc_claim_citizen_id] = citizen
        claims[settings.oidc_claim_name] = name or "Nguyễn Văn An"
    elif org is not None:
        if not is_tax_code(org):
            typer.echo("dev-token: warning: the tax code's check digit is wrong; registration will refuse it",
                       err=True)
        subject = f"org:{org}"
        claims[settings.oidc_claim_tax_code] = org
        claims[settings.oidc_claim_name] = name or "Công ty TNHH Thử Nghiệm"
    elif client is not None:
        # What an integrator's own provider would sign: the subject is the client id (POST /v1/clients' default
        # subject) and the authorised party names the client, which the gate compares with the registered one.
        subject = client
        claims[settings.oidc_claim_client_id] = client
        typer.echo(f"dev-token: register this client with POST /v1/clients client_id={client} "
                   f"(issuer {settings.oidc_issuer} and subject {client} are the defaults)", err=True)
    else:
        assert official is not None
        subject = f"official:{official}"
        claims[settings.oidc_claim_email] = official
        if name:
            claims[settings.oidc_claim_name] = name
        typer.echo(f"dev-token: bind this identity with issuer={settings.oidc_issuer} subject={subject}",
                   err=True)
    sys.stdout.write(devidp.issue_token(settings, subject, claims, lifetime_s=lifetime) + "\n")
