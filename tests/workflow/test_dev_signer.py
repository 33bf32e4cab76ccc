"""`dvc dev-sign-result`: in dev, with no trust roots configured, a result it signed is accepted by issue_result,
so the README's dossier can reach `returned` on a developer's machine; nowhere else."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from app.cli import _register_domain_commands, cli

runner = CliRunner()
_register_domain_commands()


def sign(output: Path) -> None:
    result = runner.invoke(cli, ["dev-sign-result", "--output", str(output)])
    assert result.exit_code == 0, result.output


async def test_a_dev_signed_result_is_issued_in_dev_only(client, flow, settings_env, tmp_path: Path) -> None:
    code = await flow.procedure(result={"name": "Giấy chứng nhận", "must_be_signed": True})
    _citizen, dossier = await flow.submitted(code)
    did = dossier["id"]
    await flow.to_processing(did)
    await flow.act(flow.approval, did, "approve")

    refused = runner.invoke(cli, ["dev-sign-result", "--output", str(tmp_path / "refused.pdf")])
    assert refused.exit_code == 2 and "DVC_ENV=dev" in refused.output
    settings_env(DVC_ENV="dev", DVC_VAR_DIR=str(tmp_path / "var"), DVC_SIGNATURE_TRUST_ROOTS="")
    await asyncio.to_thread(sign, tmp_path / "result.pdf")
    assert (tmp_path / "var" / "dev-signer" / "signer.key").stat().st_mode & 0o077 == 0
    result_id = await flow.upload_result(did, (tmp_path / "result.pdf").read_bytes())

    settings_env(DVC_ENV="test")  # outside dev the development CA is not trusted
    untrusted = await flow.post(flow.approval, did, "issue_result", attachments=[result_id])
    assert untrusted.status_code == 422 and untrusted.json()["code"] == "result_not_signed"

    settings_env(DVC_ENV="dev")
    issued = await flow.act(flow.approval, did, "issue_result", attachments=[result_id])
    assert (issued["state"], issued["national_status_code"]) == ("processed", 9)
    entry = (await flow.history(flow.approval, did))[-1]
    assert entry["details"]["signatures"][0]["issuer"].startswith("Common Name: DVC Development Root CA")


def test_a_file_that_is_not_a_pdf_is_refused_in_one_line(settings_env, tmp_path: Path) -> None:
    settings_env(DVC_ENV="dev", DVC_VAR_DIR=str(tmp_path / "var"), DVC_SIGNATURE_TRUST_ROOTS="")
    (tmp_path / "photo.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    result = runner.invoke(cli, ["dev-sign-result", "--input", str(tmp_path / "photo.pdf"),
                                 "--output", str(tmp_path / "out.pdf")])
    assert result.exit_code == 1 and "not a readable PDF" in result.output
    assert not (tmp_path / "out.pdf").exists()
