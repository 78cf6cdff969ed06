"""Settings: the only module that reads the environment (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = PROJECT_ROOT / "data" / "emptychair.db"
DEFAULT_PROMPTS = PROJECT_ROOT / "prompts"


class Settings(BaseSettings):
    """Every knob the bot has; names match the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Slack
    slack_bot_token: str = Field("", alias="SLACK_BOT_TOKEN", repr=False)
    slack_signing_secret: str = Field("", alias="SLACK_SIGNING_SECRET", repr=False)
    slack_app_token: str = Field("", alias="SLACK_APP_TOKEN", repr=False)
    slack_api_base_url: str = Field("https://slack.com/api/", alias="SLACK_API_BASE_URL")

    # HTTP mode
    host: str = Field("0.0.0.0", alias="EMPTYCHAIR_HOST")
    port: int = Field(3000, alias="EMPTYCHAIR_PORT", ge=0, le=65535)
    # Answers in progress at once; each mostly waits on the LLM, so threads are cheap.
    workers: int = Field(32, alias="EMPTYCHAIR_WORKERS", ge=1, le=256)
    # Slack's payloads are a few KB; anything near this is an attack, refused before reading.
    max_body_bytes: int = Field(1024 * 1024, alias="EMPTYCHAIR_MAX_BODY_BYTES", ge=1024,
                                le=64 * 1024 * 1024)
    # The same user's identical proposal in the same channel within this many seconds is
    # answered once (0 turns the check off).
    duplicate_window_seconds: float = Field(120.0, alias="EMPTYCHAIR_DUPLICATE_WINDOW_SECONDS",
                                            ge=0, le=24 * 3600)

    # Store and content
    db_path: Path = Field(DEFAULT_DB, alias="EMPTYCHAIR_DB")
    prompts_dir: Path = Field(DEFAULT_PROMPTS, alias="EMPTYCHAIR_PROMPTS_DIR")
    window_days: int = Field(90, alias="EMPTYCHAIR_WINDOW_DAYS", ge=1, le=3650)
    timezone: str = Field("UTC", alias="EMPTYCHAIR_TIMEZONE")
    semantic: bool = Field(True, alias="EMPTYCHAIR_SEMANTIC")
    # The MiniLM sentence encoder's list in the fused search (when its package is installed);
    # off leaves the static model alone, which builds its vectors far faster.
    sentence_encoder: bool = Field(True, alias="EMPTYCHAIR_SENTENCE_ENCODER")

    # LLM (any OpenAI-compatible server)
    openai_api_key: str = Field("", alias="OPENAI_API_KEY", repr=False)
    openai_base_url: str = Field("", alias="OPENAI_BASE_URL")
    model: str = Field("gpt-4o-mini", alias="EMPTYCHAIR_MODEL")
    llm_timeout: float = Field(30.0, alias="EMPTYCHAIR_LLM_TIMEOUT", gt=0)
    llm_max_retries: int = Field(2, alias="EMPTYCHAIR_LLM_RETRIES", ge=0, le=10)
    # Cap on the answer's length: without one a small local model can run on for minutes.
    llm_max_tokens: int = Field(900, alias="EMPTYCHAIR_LLM_MAX_TOKENS", ge=64, le=65536)
    # With an LLM: customers' words for the search and a re-ranked top 50 (two short calls).
    llm_retrieval: bool = Field(True, alias="EMPTYCHAIR_LLM_RETRIEVAL")
    # Used when the server does not say how large the model's context window is.
    llm_context_tokens: int = Field(8192, alias="EMPTYCHAIR_LLM_CONTEXT_TOKENS", ge=1024)
    prompt_token_budget: int = Field(6000, alias="EMPTYCHAIR_PROMPT_TOKENS", ge=500)

    # Calendars and schedules
    # Comma-separated hosts, IPs or networks a calendar may be fetched from although internal.
    calendar_allow_hosts: str = Field("", alias="EMPTYCHAIR_CALENDAR_ALLOW_HOSTS")
    max_calendars_per_channel: int = Field(3, alias="EMPTYCHAIR_MAX_CALENDARS", ge=1, le=50)
    # Comma-separated Slack user ids who may remove anyone's schedule, like workspace admins.
    admin_users: str = Field("", alias="EMPTYCHAIR_ADMIN_USERS")

    # Help-desk sync (emptychair sync zendesk|intercom; in `serve` every N minutes, 0 = off)
    zendesk_subdomain: str = Field("", alias="ZENDESK_SUBDOMAIN")
    zendesk_email: str = Field("", alias="ZENDESK_EMAIL")
    zendesk_api_token: str = Field("", alias="ZENDESK_API_TOKEN", repr=False)
    zendesk_base_url: str = Field("", alias="ZENDESK_BASE_URL")  # '' = the subdomain's
    intercom_token: str = Field("", alias="INTERCOM_TOKEN", repr=False)
    intercom_base_url: str = Field("https://api.intercom.io", alias="INTERCOM_BASE_URL")
    sync_minutes: float = Field(0, alias="EMPTYCHAIR_SYNC_MINUTES", ge=0, le=7 * 24 * 60)

    log_level: str = Field("INFO", alias="EMPTYCHAIR_LOG_LEVEL")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (e.g. Europe/Berlin)") from exc
        return value

    @field_validator("slack_api_base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @property
    def llm_configured(self) -> bool:
        """An LLM is used when a key or a base URL (local servers need no key) is set."""
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def admin_user_ids(self) -> frozenset[str]:
        return frozenset(u.strip() for u in self.admin_users.split(",") if u.strip())

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    def require_slack(self) -> None:
        """Raise one ConfigError naming every Slack variable that serving needs but lacks."""
        missing = []
        if not self.slack_bot_token:
            missing.append("SLACK_BOT_TOKEN (xoxb-…)")
        if not self.socket_mode and not self.slack_signing_secret:
            missing.append("SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)")
        problems = list(missing)
        if self.slack_bot_token and not self.slack_bot_token.startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
        if self.slack_app_token and not self.slack_app_token.startswith("xapp-"):
            problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
        if problems:
            raise ConfigError("Missing or invalid settings: " + "; ".join(problems))


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and .env); validation errors become one message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            field = Settings.model_fields.get(name)
            env_name = field.alias if field and field.alias else name.upper()
            parts.append(f"{env_name}: {err['msg']}")
        raise ConfigError("Invalid settings: " + "; ".join(parts)) from None
