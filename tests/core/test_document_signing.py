"""DVC_DOCUMENT_SIGNING_KEY_FILE / _PASSPHRASE (app/core/pdfsign.py): checked at start, one line naming the variable
(the passphrase never in it); without them prod starts, warns and issues unsigned, never with the dev signer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app.core import pdfsign
from app.core.settings import SettingsError, get_settings
from tests.workflow.pki import PASSPHRASE, make_pki, write_pkcs12

KEY, SECRET = "DVC_DOCUMENT_SIGNING_KEY_FILE", "DVC_DOCUMENT_SIGNING_KEY_PASSPHRASE"


def _refused(settings_env: Callable[..., None], **env: str) -> str:
    settings_env(**env)
    with pytest.raises(SettingsError) as caught:
        get_settings()
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_wrong_passphrase_stops_the_start_naming_the_variable(settings_env, tmp_path: Path) -> None:
    p12 = write_pkcs12(make_pki(tmp_path), PASSPHRASE)
    message = _refused(settings_env, **{KEY: str(p12), SECRET: "not-the-passphrase"})
    assert message.startswith(f"invalid setting {SECRET}: ") and "not-the-passphrase" not in message
    assert _refused(settings_env, **{KEY: str(p12), SECRET: ""}).startswith(f"invalid setting {SECRET}: ")
    settings_env(**{SECRET: PASSPHRASE})
    assert get_settings().document_signing_key_file == str(p12)
    assert PASSPHRASE not in repr(get_settings())  # a secret: never in a repr, a log line or a traceback


def test_a_missing_or_foreign_key_file_stops_the_start(settings_env, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    missing = _refused(settings_env, **{KEY: str(tmp_path / "none.p12"), SECRET: PASSPHRASE})
    assert missing.startswith(f"invalid setting {KEY}: cannot read ") and "none.p12" in missing
    assert _refused(settings_env, **{KEY: str(pki.ca_path)}).startswith(f"invalid setting {KEY}: ")  # PEM, not .p12
    assert _refused(settings_env, **{KEY: str(tmp_path)}).startswith(f"invalid setting {KEY}: ")  # a directory
    assert _refused(settings_env, **{KEY: "", SECRET: PASSPHRASE}).startswith(f"invalid setting {SECRET}: ")


def test_an_unencrypted_key_file_needs_no_passphrase(settings_env, tmp_path: Path) -> None:
    p12 = write_pkcs12(make_pki(tmp_path), "")
    settings_env(**{KEY: str(p12), SECRET: ""})
    settings = get_settings()
    assert pdfsign.mode(settings) == "on" and pdfsign.current_signer(settings) is not None


def test_prod_without_a_key_starts_warns_and_never_uses_the_dev_signer(
        settings_env, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings_env(DVC_ENV="prod", DVC_OIDC_ISSUER="https://sso.example.gov.vn", DVC_FAKEPAY_SECRET="x" * 32,
                 DVC_SECRETS_KEYS=Fernet.generate_key().decode(), DVC_VAR_DIR=str(tmp_path / "var"),
                 DVC_OIDC_JWKS_URL="https://sso.example.gov.vn/jwks",
                 **{KEY: "", SECRET: ""})
    settings = get_settings()
    assert pdfsign.mode(settings) == "off" and pdfsign.current_signer(settings) is None
    with caplog.at_level(logging.INFO, logger="app.pdfsign"):
        assert pdfsign.announce(settings) == "off"
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "NOT digitally signed" in record.getMessage()
    assert not (tmp_path / "var" / "dev-signer").exists()


def test_start_up_names_the_signer(settings_env, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings_env(**{KEY: str(write_pkcs12(make_pki(tmp_path, "Văn thư Sở"), PASSPHRASE)), SECRET: PASSPHRASE})
    with caplog.at_level(logging.INFO, logger="app.pdfsign"):
        assert pdfsign.announce() == "on"
    [record] = caplog.records
    assert record.levelno == logging.INFO and "Văn thư Sở" in record.getMessage()
