"""One settings object for the whole service, read from `DVC_*` environment variables."""

from __future__ import annotations

import base64
import ipaddress
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "test", "prod"]
# The local fake payment provider's development secret; prod refuses to start with it.
DEV_FAKEPAY_SECRET = "dev-fakepay-secret-change-me"  # noqa: S105 - a public development default
# The development key for secrets stored encrypted (app/core/secrets.py); public, so prod refuses it.
DEV_SECRETS_KEY = "ZGV2LXNlY3JldHMta2V5LXB1YmxpYy1ub3Qtc2VjcmU="


def comma_separated(value: str) -> list[str]:
    """The non-empty, stripped items of a comma-separated setting."""
    return [item.strip() for item in value.split(",") if item.strip()]


def pkcs12_problem(path: str, passphrase: str) -> str | None:
    """Why the document signing key cannot be used, as `DVC_<VARIABLE>: reason` (None: it can, or none is set)."""
    from asn1crypto import pkcs12 as asn1_pkcs12
    from cryptography.hazmat.primitives.serialization import pkcs12

    if not path:
        return ("DVC_DOCUMENT_SIGNING_KEY_PASSPHRASE: is set without DVC_DOCUMENT_SIGNING_KEY_FILE"
                if passphrase else None)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return f"DVC_DOCUMENT_SIGNING_KEY_FILE: cannot read {path}: {error.strerror or error}"
    try:
        asn1_pkcs12.Pfx.load(data, strict=True).native  # noqa: B018 - parsing is the check
    except Exception:  # asn1crypto raises several kinds on bytes that are not DER
        return f"DVC_DOCUMENT_SIGNING_KEY_FILE: {path} is not a PKCS#12 file (.p12, .pfx)"
    try:
        key, certificate, _chain = pkcs12.load_key_and_certificates(data, passphrase.encode() or None)
    except ValueError:
        return f"DVC_DOCUMENT_SIGNING_KEY_PASSPHRASE: does not open {path} (wrong passphrase)"
    if key is None or certificate is None:
        return f"DVC_DOCUMENT_SIGNING_KEY_FILE: {path} must hold a private key and its certificate"
    return None


class SettingsError(SystemExit):
    """Raised at start-up when a setting is invalid; the message is one line naming the variable."""


class Settings(BaseSettings):
    # No inf or nan for a number: an infinite timeout hangs a worker, and nan passes every bound check.
    model_config = SettingsConfigDict(env_prefix="DVC_", extra="ignore", frozen=True, allow_inf_nan=False)

    # --- runtime
    env: Environment = "dev"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Access lines are written in batches at most this many milliseconds apart (one write per batch, not per
    # request); 0 writes each at once. Other log lines are always written at once.
    access_log_flush_ms: int = Field(default=200, ge=0, le=5000)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # Peers trusted to say whose request they forward (X-Forwarded-For, X-Forwarded-Proto): the reverse proxy or
    # load balancer; comma-separated addresses or networks, "*" for any. Others' forwarding headers are ignored.
    forwarded_allow_ips: str = "127.0.0.1"
    # Browser origins allowed to call the API from another origin (CORS), e.g. a portal front end at
    # https://dichvucong.example.gov.vn; comma-separated, "*" for any; empty: no CORS headers (same origin only).
    cors_allow_origins: str = ""

    # --- storage
    database_url: str = "sqlite+aiosqlite:///./dvc.db"
    # Connections kept open per worker. Overflow connections are closed as soon as they are returned to a full
    # pool, so load above the pool size opens a new connection per request (bench/PROFILE.md, session 4: 10 ->
    # 20 took public tracking from 959 to 1,235 req/s under 32 clients).
    database_pool_size: int = Field(default=20, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    # PostgreSQL only: the asyncpg pool of app.core.direct (the gate's lookup, idempotency claims, public tracking,
    # rate-limit counts), opened on demand up to this size per worker, on top of the engine's pool.
    database_direct_pool_size: int = Field(default=10, ge=1, le=200)
    # A pooled connection idle longer than this is checked (one `SELECT 1`) before use; 0 checks every time.
    database_ping_after_idle_s: float = Field(default=1.0, ge=0)
    sqlite_busy_timeout_ms: int = Field(default=15000, ge=0)
    storage_dir: Path = Path("./var/files")
    var_dir: Path = Path("./var")
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    # Files one dossier may hold of each kind (the applicant's documents, supplements, result files): 409
    # `attachment_limit_reached` beyond it. Each upload is bounded by its size; this bounds how many, so one account
    # cannot fill the store through one dossier, and per kind so the applicant's files never block the agency's.
    max_attachments_per_dossier: int = Field(default=200, ge=1, le=10000)
    # A request body other than a multipart upload (JSON): 413 `payload_too_large` beyond it. A whole
    # province's catalogue import is the largest legitimate one (a few MiB).
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # A dossier's `form` as UTF-8 JSON: 422 beyond it (documents are attachments, not form values).
    max_form_bytes: int = Field(default=256 * 1024, ge=1024)

    # --- identity (Decree 45/2020 Art. 7: only registered, verified accounts act)
    oidc_issuer: str = "http://127.0.0.1:8000/dev"
    oidc_audience: str = "dvc-service"
    oidc_jwks_url: str = ""
    oidc_jwks_file: str = ""
    oidc_jwks_min_refresh_s: int = Field(default=60, ge=0)
    # The JWKS is fetched again once this old (not more often than oidc_jwks_min_refresh_s), so a key the
    # provider withdraws stops verifying, cached tokens included, without waiting for a token with a new kid.
    oidc_jwks_max_age_s: int = Field(default=600, ge=1, le=86400)
    oidc_algorithms: str = "RS256,PS256,ES256"
    oidc_leeway_s: int = Field(default=30, ge=0, le=600)
    oidc_claim_citizen_id: str = "citizen_id"
    oidc_claim_tax_code: str = "tax_code"
    oidc_claim_name: str = "name"
    oidc_claim_email: str = "email"
    oidc_claim_client_id: str = "azp"
    oidc_required_acr: str = ""
    # Which logins count as "authenticated with VNeID" for the national portal's `TaiKhoanDuocXacThucVoiVNeID`:
    # a token from one of these issuers (comma-separated, compared exactly), at DVC_VNEID_MIN_ACR or higher when
    # that is set (compared as DVC_OIDC_REQUIRED_ACR is). Empty: no login counts, the portal is told "0".
    vneid_issuers: str = ""
    vneid_min_acr: str = ""

    # --- dossiers
    dossier_code_pattern: str = "{agency_code}-{yymmdd}-{seq:04d}"
    public_rate_limit_per_min: int = Field(default=120, ge=0)
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)

    # --- time (DOMAIN.md "Time")
    # Dates and deadlines are Vietnamese local dates by law (DOMAIN.md "Time"); every module uses
    # app.core.clock.LOCAL_TZ. Kept as a setting only so that another value stops the process instead of being
    # half applied.
    timezone: Literal["Asia/Ho_Chi_Minh"] = "Asia/Ho_Chi_Minh"
    working_day_end_hour: int = Field(default=17, ge=1, le=23)
    # Agencies whose desk opens on Saturday mornings (the agency's `saturday_morning`) receive until this local
    # time: such a reception counts for that Saturday, so day 1 is the next working day (DOMAIN.md "Time").
    saturday_morning_end: time = time(12, 0)
    # Working hours, for internal step allowances in hours (app.workflow.steps): from the start of the day to the
    # end hour, the lunch break left out. 8 hours a day by default, as Decision 188/1999/QĐ-TTg sets for state
    # agencies (40 hours a week), so that an allowance of 8 working hours is one working day.
    working_day_start: time = time(8, 0)
    lunch_break_start: time = time(12, 0)
    lunch_break_end: time = time(13, 0)
    clock_on_supplement_default: Literal["pause", "restart"] = "pause"
    # Resolution 131/NQ-CP: an apology (form 04) is due by the end of the working day this many working days
    # before the due date (one sent later is still taken, and recorded as late).
    apology_deadline_working_days: int = Field(default=1, ge=0, le=30)

    # --- signed results (Decree 45/2020): PEM files of the CAs whose signatures on result PDFs are trusted
    signature_trust_roots: str = ""

    # --- documents the service issues (notices, fee receipts, the process slip), signed in the agency's name
    # (Decree 45/2020; app/core/pdfsign.py): a PKCS#12 file with the key and certificate, and its passphrase. The
    # deployment's key, for agencies without their own (PUT /v1/agencies/{code}/signing-key). Unset: issued unsigned
    # (in dev: the development signer).
    document_signing_key_file: str = ""
    document_signing_key_passphrase: SecretStr = SecretStr("")

    # --- secrets stored encrypted (webhook signing keys): Fernet keys, comma-separated; the first encrypts
    secrets_keys: str = DEV_SECRETS_KEY

    # --- fees and payments (app/fees)
    fakepay_secret: str = DEV_FAKEPAY_SECRET
    vnpay_tmn_code: str = ""
    vnpay_hash_secret: str = ""
    # VNPAY's guide documents its sandbox only. The production URLs come with a live terminal; those in public use
    # are https://pay.vnpay.vn/vpcpay.html and https://merchant.vnpay.vn/merchant_webapi/api/transaction.
    vnpay_payment_url: str = "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html"
    vnpay_api_url: str = "https://sandbox.vnpayment.vn/merchant_webapi/api/transaction"
    # querydr/refund's vnp_IpAddr, "the IP address of the server calling the API": this service's address as VNPAY
    # sees it (its egress address).
    vnpay_server_ip: str = "127.0.0.1"
    payment_callback_window_s: int = Field(default=300, ge=1)
    payment_attempt_ttl_s: int = Field(default=90 * 60, ge=60)
    payment_reconcile_after_s: int = Field(default=300, ge=0)
    payment_provider_timeout_s: float = Field(default=10.0, gt=0)

    # --- reporting (app/reporting): Decision 766 indicators, the public late list
    # Group weights, in order: transparency, progress, online service, digitisation, satisfaction.
    indicator_weights: str = "18,20,22,22,18"
    # Decision 766's published formula also counts a dossier whose supplement was requested more than once as late.
    indicator_multi_supplement_late: bool = True
    # Working days after the announced legal act takes effect within which its procedure version may still be
    # published on time (transparency: procedures published on time; app.reporting.announcements).
    indicator_publication_allowance_days: int = Field(default=0, ge=0, le=365)
    rating_satisfied_min_score: int = Field(default=4, ge=1, le=5)
    public_report_cache_s: float = Field(default=60.0, ge=0)
    # A public late list of a period that ended over an hour ago is judged from history up to that end, so it
    # hardly changes (only names can): kept this long instead (app.reporting.cache); so is a settled day's count of
    # open dossiers rebuilt from history for a report (app.reporting.figures).
    closed_report_cache_s: float = Field(default=3600.0, ge=0)
    # How many days back (the day just ended included) the end-of-day task fills in a missing count of open
    # dossiers, rebuilt from their history, after a worker outage (app.reporting.rebuild).
    open_count_backfill_days: int = Field(default=31, ge=1, le=366)

    # --- complaints (app/complaints): complaints and feedback about a dossier (phản ánh, kiến nghị)
    # Working days the agency has to answer, from filing (the answer falls due at the end of the last one).
    complaint_answer_working_days: int = Field(default=10, ge=1, le=100)

    # --- integration (app/integration): national-portal sync, intake, webhooks
    national_portal_enabled: bool = False
    national_portal_url: str = "http://127.0.0.1:8090"
    national_portal_client_id: str = ""
    national_portal_secret: str = ""
    national_portal_timeout_s: float = Field(default=10.0, gt=0)
    national_portal_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_allow_private: bool = False
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    integration_fetch_timeout_s: float = Field(default=30.0, gt=0)

    # --- applicant notifications (app/notifications); a channel without its settings is off
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    mail_from: str = ""
    sms_api_url: str = "https://rest.esms.vn/MainService.svc/json/SendMultipleMessage_V4_post_json/"
    sms_api_key: str = ""
    sms_secret_key: str = ""
    sms_brandname: str = ""
    sms_unicode: bool = True
    zalo_api_url: str = "https://business.openapi.zalo.me/message/template"
    zalo_access_token: str = ""
    zalo_template_id: str = ""
    notification_timeout_s: float = Field(default=15.0, gt=0)
    notification_max_attempts: int = Field(default=6, ge=1, le=50)
    # How many days before a representative's mandate ends its organisation is reminded (once per term).
    mandate_expiry_notice_days: int = Field(default=7, ge=1, le=90)

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("host", "oidc_issuer", "oidc_audience", "oidc_claim_citizen_id", "oidc_claim_tax_code",
                     "oidc_claim_name", "oidc_claim_email", "oidc_claim_client_id")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        # An empty issuer or audience refuses every token; an empty claim name reads nothing: fail at start instead.
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",") if o.strip()):
            parts = urlsplit(origin)
            # An origin is scheme://host[:port], nothing after: a browser never sends a path or a trailing slash,
            # so such an entry would silently match nothing.
            if origin != "*" and (parts.scheme not in ("http", "https") or not parts.hostname
                                  or origin != f"{parts.scheme}://{parts.netloc}"):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path) or *")
        return value

    def vneid_issuer_list(self) -> list[str]:
        return comma_separated(self.vneid_issuers)

    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.cors_allow_origins.split(",") if o.strip()]

    @field_validator("storage_dir", "var_dir", mode="before")
    @classmethod
    def _directory_given(cls, value: object) -> object:
        # An empty value would be the current directory: `dvc storage gc` would then sweep ./sha256 and ./tmp.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("national_portal_url", "vnpay_payment_url", "vnpay_api_url", "sms_api_url", "zalo_api_url",
                     "oidc_jwks_url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "oidc_jwks_url" and value == "":
            return value  # no URL: the keys come from DVC_OIDC_JWKS_FILE (or the development provider)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("dossier_code_pattern")
    @classmethod
    def _code_pattern(cls, value: str) -> str:
        # The sequence restarts per agency and local day, so a code without all three repeats (a failed submit).
        if "{seq" not in value or "{agency_code" not in value or not ("{yymmdd" in value or "{yyyymmdd" in value):
            raise ValueError("must contain {agency_code}, {yymmdd} or {yyyymmdd}, and {seq}")
        try:
            value.format(agency_code="000.00.12.H23", yymmdd="250101", yyyymmdd="20250101", seq=1)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"is not a valid pattern ({type(error).__name__}: {error}); fields: agency_code, "
                             "yymmdd, yyyymmdd, seq") from None
        return value

    @field_validator("vnpay_server_ip")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        return str(ipaddress.ip_address(value.strip()))  # ValueError (a settings error) when not an address

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        entries = comma_separated(value)
        if entries == ["*"]:
            return "*"
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False) if "/" in entry else ipaddress.ip_address(entry)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (or a lone '*')") from None
        return ",".join(entries)

    @field_validator("secrets_keys")
    @classmethod
    def _fernet_keys(cls, value: str) -> str:
        keys = comma_separated(value)
        if not keys:
            raise ValueError("must list at least one key (`dvc secrets new-key` makes one)")
        for key in keys:
            try:
                if len(base64.urlsafe_b64decode(key.encode())) != 32:
                    raise ValueError
            except ValueError:
                raise ValueError("each key must be 32 url-safe base64-encoded bytes (`dvc secrets new-key`)") from None
        return ",".join(keys)

    @field_validator("indicator_weights")
    @classmethod
    def _five_weights(cls, value: str) -> str:
        try:
            weights = [float(w) for w in value.split(",")]
        except ValueError:
            raise ValueError("must be five comma-separated numbers") from None
        if len(weights) != 5 or any(w < 0 for w in weights):
            raise ValueError("must be five non-negative comma-separated numbers")
        return value

    @field_validator("saturday_morning_end", "working_day_start", "lunch_break_start", "lunch_break_end")
    @classmethod
    def _whole_minutes(cls, value: time) -> time:
        if value.tzinfo is not None or value.second or value.microsecond or value == time(0):
            raise ValueError("must be a local time of day such as 11:30 (hours and minutes, after 00:00)")
        return value

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: str) -> str:
        algorithms = comma_separated(value)
        if not algorithms:
            raise ValueError("must list at least one algorithm")
        refused = [a for a in algorithms if a.lower() == "none" or a.upper().startswith("HS")]
        if refused:
            raise ValueError(f"symmetric or 'none' algorithms are never accepted: {','.join(refused)}")
        return ",".join(algorithms)

    @field_validator("signature_trust_roots")
    @classmethod
    def _trust_roots_exist(cls, value: str) -> str:
        # Read at the first signed result: a missing file was a 500 there instead of a line at start.
        missing = [p.strip() for p in value.split(",") if p.strip() and not Path(p.strip()).is_file()]
        if missing:
            raise ValueError(f"no such file: {', '.join(missing)}")
        return value

    @model_validator(mode="after")
    def _document_signing_key_opens(self) -> Settings:
        # Checked at start: a wrong passphrase found at the first receipt would be a 500 to an applicant.
        problem = pkcs12_problem(self.document_signing_key_file,
                                 self.document_signing_key_passphrase.get_secret_value())
        if problem is not None:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _working_hours_in_order(self) -> Settings:
        end = time(self.working_day_end_hour)
        if not self.working_day_start < self.lunch_break_start <= self.lunch_break_end < end:
            raise ValueError("DVC_WORKING_DAY_START < DVC_LUNCH_BREAK_START <= DVC_LUNCH_BREAK_END < "
                             "DVC_WORKING_DAY_END_HOUR must hold (equal break ends: no lunch break)")
        return self

    @property
    def working_sessions(self) -> tuple[tuple[time, time], ...]:
        """The working day's sessions (local opening and closing times), the lunch break left out: 08:00-12:00 and
        13:00-17:00 by default (no second session start when the break is empty)."""
        sessions = ((self.working_day_start, self.lunch_break_start),
                    (self.lunch_break_end, time(self.working_day_end_hour)))
        return tuple((opens, closes) for opens, closes in sessions if opens < closes)

    @property
    def working_minutes_per_day(self) -> int:
        """Working minutes in a working day (its sessions): 480 by default, so that a step allowance in hours
        converts to working days the way app.workflow.steps counts them."""
        def minutes(t: time) -> int:
            return t.hour * 60 + t.minute
        return sum(minutes(closes) - minutes(opens) for opens, closes in self.working_sessions)

    @model_validator(mode="after")
    def _prod_has_no_dev_features(self) -> Settings:
        if self.env == "prod" and self.oidc_issuer.endswith("/dev"):
            raise ValueError("DVC_OIDC_ISSUER: prod refuses the development identity provider")
        if self.env == "prod" and self.fakepay_secret == DEV_FAKEPAY_SECRET:
            raise ValueError("DVC_FAKEPAY_SECRET: prod refuses the development default secret")
        if self.env == "prod" and DEV_SECRETS_KEY in self.secrets_keys.split(","):
            raise ValueError("DVC_SECRETS_KEYS: prod refuses the development default key")
        if self.env == "prod" and not (self.oidc_jwks_url or self.oidc_jwks_file):
            # Without the identity provider's keys every signed-in request is 503, while /readyz says ready.
            raise ValueError("DVC_OIDC_JWKS_URL: prod needs the identity provider's keys (or DVC_OIDC_JWKS_FILE)")
        if self.oidc_jwks_file and not Path(self.oidc_jwks_file).is_file():
            raise ValueError(f"DVC_OIDC_JWKS_FILE: no such file: {self.oidc_jwks_file}")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def algorithm_list(self) -> list[str]:
        return self.oidc_algorithms.split(",")

    @property
    def dev_features(self) -> bool:
        return self.env == "dev"


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    if not field and ":" in message:  # model-level errors name the variable themselves
        return f"invalid setting {message}"
    return f"invalid setting DVC_{field.upper()}: {message}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; a bad value stops the process with one readable line."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(_one_line(error)) from None
