"""Settings from the environment or ``.env`` (docs/reference.md §2), read once by the
composition root."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = frozenset({"", "changeme", "change-me", "xxx", "secret", "token", "todo"})


class SettingsError(ValueError):
    """A missing or invalid setting; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Everything Wolaiban reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///./wolaiban.db"
    # A PostgreSQL streaming replica the console's lists and rates, Open311 GETs, exports and
    # stats read from (unset: everything reads the primary); writes never go there.
    database_read_url: str | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    # Telegram's flood limits (the defaults are Telegram's own); lower them, never raise them.
    telegram_per_second: float = Field(default=30.0, gt=0, le=30)
    telegram_chat_interval: float = Field(default=1.0, ge=0, le=60)
    telegram_group_per_minute: int = Field(default=20, gt=0, le=20)
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    sms_per_second: float = Field(default=1.0, gt=0, le=100)  # per sending number
    # WeCom (企业微信) for staff, managers and supervisors: a self-built app (自建应用). The
    # callback URL is PUBLIC_URL/wecom/callback, verified with WECOM_TOKEN and WECOM_AES_KEY
    # (the app's Token and EncodingAESKey). Its pace per member: WeCom's own limits, or lower.
    wecom_corp_id: str | None = None
    wecom_agent_id: int | None = None
    wecom_secret: SecretStr | None = None
    wecom_token: SecretStr | None = None
    wecom_aes_key: SecretStr | None = None
    wecom_api_url: str = "https://qyapi.weixin.qq.com"
    wecom_per_minute: int = Field(default=30, gt=0, le=30)
    wecom_per_hour: int = Field(default=1000, gt=0, le=1000)
    # WeChat customer service (微信客服) for residents, through the self-built app that manages
    # the customer-service accounts (its own secret, Token and EncodingAESKey); its callback URL
    # is PUBLIC_URL/wechat-kf/callback. Uses WECOM_CORP_ID and WECOM_API_URL.
    wechat_kf_secret: SecretStr | None = None
    wechat_kf_token: SecretStr | None = None
    wechat_kf_aes_key: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8080"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port
    directory_file: str | None = None
    sweep_seconds: float = Field(default=5.0, gt=0, le=3600)  # how often the clock looks
    # Per-sender limits for residents on every channel (managers and staff are never limited).
    resident_messages_per_hour: int = Field(default=30, gt=0, le=10_000)
    resident_cases_per_10_minutes: int = Field(default=5, gt=0, le=1_000)
    # Images fetched from URLs others give us (MMS media, Open311 media_url): bounded, public
    # addresses only; MEDIA_FETCH_ALLOW lists hosts or networks allowed although private
    # (comma-separated; the demo and tests use 127.0.0.1). Off by default.
    media_fetch_allow: str = ""
    media_max_bytes: int = Field(default=5_000_000, gt=0, le=50_000_000)
    # Open311 GeoReport v2 (docs/reference.md §10): GET of closed requests without a key when
    # true; POSTs a minute per API key.
    open311_public_read: bool = False
    open311_posts_per_minute: int = Field(default=60, gt=0, le=100_000)
    timezone: str = "Asia/Shanghai"
    default_language: str = "zh"
    log_level: str = "INFO"
    # Signs staff-console sessions; unset: the console is off (its routes answer 404).
    console_secret: SecretStr | None = None
    # A console session ends this many hours after sign-in, however active (besides 8 h idle).
    console_session_hours: float = Field(default=12.0, gt=0, le=24 * 7)
    # Request bodies, counted as they stream in (413 past the cap): the Telegram and Twilio
    # webhooks, the console's forms, Open311 (whose POST may carry a photo); a body that has not
    # arrived after HTTP_BODY_SECONDS is cut off (408).
    webhook_max_bytes: int = Field(default=65_536, ge=1_024, le=10_000_000)
    console_max_bytes: int = Field(default=65_536, ge=1_024, le=10_000_000)
    open311_max_bytes: int = Field(default=6_000_000, ge=1_024, le=60_000_000)
    http_body_seconds: float = Field(default=10.0, gt=0, le=600)
    # Open311 GETs a minute per API key, and per client address without a key (429 past it).
    open311_reads_per_minute: int = Field(default=120, gt=0, le=100_000)
    # The countries SMS may go to, as calling codes ("86,852"); empty: the country of
    # TWILIO_FROM_NUMBER. A number elsewhere is never texted (no SMS pumping through a form).
    sms_countries: str = ""
    # /metrics answers loopback clients; with a token, anyone who sends "Authorization: Bearer …".
    metrics_token: SecretStr | None = None
    # Daily backups by the scheduler into BACKUP_DIR (unset: none), the newest BACKUP_KEEP kept.
    backup_dir: str | None = None
    backup_keep: int = Field(default=7, ge=1, le=1000)
    # Retention, run daily in small batches (days; 0 keeps for ever): the text of sent messages,
    # inbound receipts, drafts left unfinished, the photos of ended cases, and the reporters of
    # ended cases (anonymised; off by default).
    retain_message_text_days: int = Field(default=180, ge=0, le=36_500)
    retain_receipts_days: int = Field(default=30, ge=0, le=36_500)
    retain_drafts_days: int = Field(default=7, ge=0, le=36_500)
    retain_photos_days: int = Field(default=730, ge=0, le=36_500)
    anonymise_reporters_days: int = Field(default=0, ge=0, le=36_500)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("database_read_url")
    @classmethod
    def _replica_is_postgres(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must start with postgresql+asyncpg:// (a PostgreSQL replica)")
        return value

    @field_validator("wecom_aes_key", "wechat_kf_aes_key", mode="after")
    @classmethod
    def _encoding_aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        # WeCom's EncodingAESKey: 43 characters of base64 (a 32-byte AES key without its "=").
        key = value.get_secret_value().strip() if value is not None else None
        if key is not None and (len(key) != 43 or not key.isascii() or not key.isalnum()):
            raise ValueError("must be the app's EncodingAESKey: 43 letters and digits")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ("zh", "en"):
            raise ValueError("must be zh or en")
        return value

    @field_validator("sms_countries")
    @classmethod
    def _calling_codes(cls, value: str) -> str:
        codes = [c.strip().lstrip("+") for c in value.split(",") if c.strip()]
        if any(not c.isdigit() or not 1 <= len(c) <= 3 for c in codes):
            raise ValueError('must be calling codes separated by commas, e.g. "86,852"')
        return ",".join(codes)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @field_validator(
        "telegram_bot_token",
        "telegram_webhook_secret",
        "twilio_auth_token",
        "console_secret",
        "metrics_token",
        "wecom_secret",
        "wecom_token",
        "wechat_kf_secret",
        "wechat_kf_token",
        mode="after",
    )
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError("is a placeholder; set the real secret or leave it unset")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.telegram_webhook_url and self.telegram_webhook_secret is None:
            # no field to hang it on: the message names the variable itself
            raise ValueError("TELEGRAM_WEBHOOK_SECRET: required when TELEGRAM_WEBHOOK_URL is set")
        return self

    @model_validator(mode="after")
    def _sms_needs_a_sender(self) -> Settings:
        if self.sms_enabled and not (self.twilio_from_number or self.twilio_messaging_service_sid):
            raise ValueError(
                "TWILIO_FROM_NUMBER: set it (or TWILIO_MESSAGING_SERVICE_SID) to send SMS"
            )
        return self

    @property
    def sms_sender(self) -> str:
        """The number SMS go out from, or the messaging service that picks one."""
        return self.twilio_messaging_service_sid or self.twilio_from_number or ""

    @field_validator("console_secret", mode="after")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # It signs every session cookie: a short one could be guessed offline from a cookie.
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError("must be at least 16 characters (e.g. `openssl rand -hex 32`)")
        return value

    @property
    def console_enabled(self) -> bool:
        """The staff console runs only when ``CONSOLE_SECRET`` is set."""
        return self.console_secret is not None

    @property
    def wecom_enabled(self) -> bool:
        """WeCom runs when its corp, app, secret and callback keys are all set."""
        return bool(
            self.wecom_corp_id
            and self.wecom_agent_id
            and self.wecom_secret
            and self.wecom_token
            and self.wecom_aes_key
        )

    @property
    def wechat_kf_enabled(self) -> bool:
        """WeChat customer service runs when the corp, its secret and callback keys are set."""
        return bool(
            self.wecom_corp_id
            and self.wechat_kf_secret
            and self.wechat_kf_token
            and self.wechat_kf_aes_key
        )

    @property
    def sms_enabled(self) -> bool:
        """SMS runs only when Twilio credentials are set."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)


def load_settings() -> Settings:
    """Read the settings once; raise ``SettingsError`` with one line naming the variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = "_".join(str(part) for part in first["loc"]).upper()
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}" if name else message) from None
