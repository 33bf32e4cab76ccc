from __future__ import annotations

import pytest

from app.core.settings import Settings, SettingsError, get_settings


def _fresh(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        return get_settings()
    finally:
        get_settings.cache_clear()


def test_invalid_setting_names_the_variable_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError) as caught:
        _fresh(monkeypatch, DVC_PORT="not-a-port")
    message = str(caught.value)
    assert message.startswith("invalid setting DVC_PORT:") and "\n" not in message


def test_unsupported_database_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="DVC_DATABASE_URL"):
        _fresh(monkeypatch, DVC_DATABASE_URL="mysql://x")


@pytest.mark.parametrize("algorithms", ["HS256", "RS256,none", "none"])
def test_symmetric_and_none_algorithms_are_never_accepted(monkeypatch: pytest.MonkeyPatch, algorithms: str) -> None:
    with pytest.raises(SettingsError, match="DVC_OIDC_ALGORITHMS"):
        _fresh(monkeypatch, DVC_OIDC_ALGORITHMS=algorithms)


def test_prod_refuses_the_development_identity_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DVC_OIDC_ISSUER", raising=False)
    with pytest.raises(SettingsError, match="DVC_OIDC_ISSUER"):
        _fresh(monkeypatch, DVC_ENV="prod")


def test_prod_refuses_the_development_payment_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="DVC_FAKEPAY_SECRET"):
        _fresh(monkeypatch, DVC_ENV="prod", DVC_OIDC_ISSUER="https://sso.example.gov.vn")


@pytest.mark.parametrize("value", ["proxy.local", "10.0.0.0/33", "127.0.0.1,*"])
def test_forwarded_allow_ips_takes_only_addresses_and_networks(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(SettingsError, match="DVC_FORWARDED_ALLOW_IPS"):
        _fresh(monkeypatch, DVC_FORWARDED_ALLOW_IPS=value)


def test_forwarded_allow_ips_accepts_addresses_networks_and_a_lone_star(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _fresh(monkeypatch, DVC_FORWARDED_ALLOW_IPS=" 10.0.0.0/8, 192.168.1.5 ,::1")
    assert settings.forwarded_allow_ips == "10.0.0.0/8,192.168.1.5,::1"
    assert _fresh(monkeypatch, DVC_FORWARDED_ALLOW_IPS="*").forwarded_allow_ips == "*"


@pytest.mark.parametrize("keys", ["", "not-a-key", "c2hvcnQ="])
def test_secrets_keys_must_be_fernet_keys(monkeypatch: pytest.MonkeyPatch, keys: str) -> None:
    with pytest.raises(SettingsError, match="DVC_SECRETS_KEYS"):
        _fresh(monkeypatch, DVC_SECRETS_KEYS=keys)


def test_prod_refuses_the_development_secrets_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    from app.core.settings import DEV_SECRETS_KEY

    prod = {"DVC_ENV": "prod", "DVC_OIDC_ISSUER": "https://sso.example.gov.vn", "DVC_FAKEPAY_SECRET": "x" * 32,
            "DVC_OIDC_JWKS_URL": "https://sso.example.gov.vn/jwks"}
    with pytest.raises(SettingsError, match="DVC_SECRETS_KEYS"):
        _fresh(monkeypatch, **prod, DVC_SECRETS_KEYS=f"{Fernet.generate_key().decode()},{DEV_SECRETS_KEY}")
    assert _fresh(monkeypatch, **prod, DVC_SECRETS_KEYS=Fernet.generate_key().decode()).env == "prod"


@pytest.mark.parametrize(("variable", "value"), [
    ("DVC_TIMEZONE", "Mars/Olympus_Mons"),          # was accepted; every submit was then a 500
    ("DVC_TIMEZONE", ""),
    ("DVC_TIMEZONE", "Asia/Bangkok"),              # the same offset, but dates are Vietnamese by law
    ("DVC_DOSSIER_CODE_PATTERN", "{agency_code}-{day}-{seq}"),   # KeyError at the first submit
    ("DVC_DOSSIER_CODE_PATTERN", "HS-{seq:04d}"),   # repeats across agencies and days
    ("DVC_NATIONAL_PORTAL_URL", "ftp://portal.gov.vn"),
    ("DVC_OIDC_JWKS_URL", "file:///etc/jwks.json"),
    ("DVC_OIDC_AUDIENCE", ""),                      # refused every token
    ("DVC_STORAGE_DIR", ""),                        # the current directory: `storage gc` swept ./tmp
    ("DVC_PAYMENT_PROVIDER_TIMEOUT_S", "inf"),
])
def test_bad_values_stop_the_process_naming_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str,
                                                         value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        _fresh(monkeypatch, **{variable: value})
    message = str(caught.value)
    assert message.startswith(f"invalid setting {variable}:") and "\n" not in message


def test_prod_needs_the_identity_providers_keys(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Without them every signed-in request answered 503 identity_provider_unavailable while /readyz said ready.
    from cryptography.fernet import Fernet

    prod = {"DVC_ENV": "prod", "DVC_OIDC_ISSUER": "https://sso.example.gov.vn", "DVC_FAKEPAY_SECRET": "x" * 32,
            "DVC_SECRETS_KEYS": Fernet.generate_key().decode()}
    monkeypatch.delenv("DVC_OIDC_JWKS_URL", raising=False)
    monkeypatch.delenv("DVC_OIDC_JWKS_FILE", raising=False)
    with pytest.raises(SettingsError, match="DVC_OIDC_JWKS_URL"):
        _fresh(monkeypatch, **prod)
    keys = tmp_path / "jwks.json"
    keys.write_text('{"keys": []}')
    assert _fresh(monkeypatch, **prod, DVC_OIDC_JWKS_FILE=str(keys)).oidc_jwks_file == str(keys)


def test_a_jwks_file_that_does_not_exist_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="DVC_OIDC_JWKS_FILE"):
        _fresh(monkeypatch, DVC_OIDC_JWKS_FILE="/nonexistent/jwks.json")


def test_signature_trust_roots_must_be_files(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Read at the first signed result to verify: a missing file answered 500 there, after a clean start.
    with pytest.raises(SettingsError, match="DVC_SIGNATURE_TRUST_ROOTS"):
        _fresh(monkeypatch, DVC_SIGNATURE_TRUST_ROOTS="/nonexistent/ca.pem")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(SettingsError, match="DVC_SIGNATURE_TRUST_ROOTS"):
        _fresh(monkeypatch, DVC_SIGNATURE_TRUST_ROOTS=f"{ca}, /nonexistent/other.pem")
    assert _fresh(monkeypatch, DVC_SIGNATURE_TRUST_ROOTS=f" {ca} ").signature_trust_roots == f" {ca} "
