"""The development identity provider exists only in dev; `dvc create-admin` works everywhere."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import _register_domain_commands, cli
from app.core.db import get_database
from app.core.settings import Settings, get_settings
from app.identity import devidp
from app.identity.models import Account, AccountAudit
from app.identity.tokens import DevSource, TokenVerifier, source_for

runner = CliRunner()
_register_domain_commands()


def dev_settings(tmp_path: Path) -> Settings:
    return get_settings().model_copy(update={"env": "dev", "var_dir": tmp_path, "oidc_jwks_file": "",
                                             "oidc_jwks_url": "", "oidc_issuer": "http://127.0.0.1:8000/dev"})


async def test_dev_jwks_is_404_outside_dev_and_not_in_openapi(client: httpx.AsyncClient) -> None:
    response = await client.get("/dev/jwks.json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "/dev/jwks.json" not in (await client.get("/openapi.json")).json()["paths"]


async def test_dev_jwks_served_in_dev(client: httpx.AsyncClient, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = dev_settings(tmp_path)
    monkeypatch.setattr("app.identity.router.get_settings", lambda: settings)
    response = await client.get("/dev/jwks.json")
    assert response.status_code == 200
    assert response.json()["keys"][0]["kid"] == devidp.KEY_ID
    assert "d" not in response.json()["keys"][0]  # the private exponent never leaves the machine
    assert (tmp_path / "dev-idp" / "private-key.pem").stat().st_mode & 0o077 == 0


async def test_dev_token_verifies_against_the_dev_key(database_url: str, tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    assert isinstance(source_for(settings), DevSource)
    verifier = TokenVerifier(settings, source_for(settings))
    token = devidp.issue_token(settings, "citizen:001099012345", {"citizen_id": "001099012345"})
    verified = await verifier.verify(token)
    assert verified.issuer == "http://127.0.0.1:8000/dev"
    assert verified.claims["citizen_id"] == "001099012345"


def test_dev_source_is_never_used_outside_dev(tmp_path: Path) -> None:
    for env in ("test", "prod"):
        settings = get_settings().model_copy(update={"env": env, "oidc_jwks_file": "", "oidc_jwks_url": ""})
        assert not isinstance(source_for(settings), DevSource)


def test_dev_token_command_refuses_outside_dev() -> None:
    result = runner.invoke(cli, ["dev-token", "--citizen", "001099012345"])
    assert result.exit_code == 2
    assert "DVC_ENV=dev" in result.output


def test_dev_token_command_prints_a_token_in_dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = dev_settings(tmp_path)
    monkeypatch.setattr("app.identity.commands.get_settings", lambda: settings)
    result = runner.invoke(cli, ["dev-token", "--citizen", "001099012345", "--name", "Hồ Văn Em"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.count(".") == 2
    from jose import jwt

    claims = jwt.get_unverified_claims(token)
    assert claims["citizen_id"] == "001099012345"
    assert claims["name"] == "Hồ Văn Em"
    assert runner.invoke(cli, ["dev-token", "--citizen", "1", "--org", "0312345673"]).exit_code == 2


async def test_create_admin_command(database_url: str) -> None:
    import asyncio

    result = await asyncio.to_thread(runner.invoke, cli, ["create-admin", "--issuer", "https://idp.example",
                                                          "--subject", "root", "--email", "root@dvc.gov.vn"])
    assert result.exit_code == 0, result.output
    async with get_database().read_sessions() as session:
        admin = await session.scalar(select(Account).where(Account.email == "root@dvc.gov.vn"))
        assert admin is not None
        assert admin.roles == ["system_admin"]
        assert await session.scalar(select(AccountAudit.action).where(AccountAudit.account_id == admin.id)) \
            == "official.created"
    again = await asyncio.to_thread(runner.invoke, cli, ["create-admin", "--issuer", "https://idp.example",
                                                         "--subject", "root"])
    assert again.exit_code == 1


async def test_dev_token_for_an_integrator_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/webhooks.md is tried with a client's token: the subject and `azp` are the registered client id, so the
    gate maps it to the client POST /v1/clients registered with its default issuer and subject."""
    settings = dev_settings(tmp_path)
    monkeypatch.setattr("app.identity.commands.get_settings", lambda: settings)
    result = runner.invoke(cli, ["dev-token", "--client", "hooks-demo"])
    assert result.exit_code == 0, result.output
    assert "POST /v1/clients" in result.stderr
    token = result.stdout.strip().splitlines()[-1]
    verified = await TokenVerifier(settings, source_for(settings)).verify(token)
    assert verified.subject == "hooks-demo"
    assert verified.claims[settings.oidc_claim_client_id] == "hooks-demo"
    assert "citizen_id" not in verified.claims and "email" not in verified.claims
    assert runner.invoke(cli, ["dev-token", "--client", "a", "--official", "b@dvc.vn"]).exit_code == 2
