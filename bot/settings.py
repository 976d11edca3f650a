"""Settings from the environment and an optional .env file.

Nothing here is built at import time: each command calls `load_settings()` and then
`require()` for just the variables it needs, so `cflow-bot sandbox` runs with no
settings at all while `cflow-bot serve` names every missing one at once.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

from cryptography.fernet import Fernet
from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.cflow.models import Credentials

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

CFLOW_SERVICE_ACCOUNT = ("CFLOW_API_KEY", "CFLOW_USERNAME", "CFLOW_USER_KEY")
SLACK_HTTP = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
SLACK_OAUTH = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_STATE_SECRET")


MIN_HOOK_SECRET = 24
MIN_METRICS_TOKEN = 16
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(Exception):
    """One or more settings are missing or malformed; the message names every one."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        lines = [f"  {name}: {problem}" for name, problem in sorted(problems.items())]
        super().__init__("Some settings are missing or wrong:\n" + "\n".join(lines))


def _comma_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return list(value or [])


class Settings(BaseSettings):
    """Every setting of cflow-bot. Field names are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Each description is what the variable should hold: errors say "set it to <description>".
    cflow_base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://us.cflowapps.com"),
        description="the Cflow server's URL, e.g. https://us.cflowapps.com",
    )
    cflow_api_key: SecretStr | None = Field(
        default=None, description="the account's API key (Cflow: Admin > API Settings)"
    )
    cflow_username: str | None = Field(
        default=None,
        description="the username of the Cflow service account the poller reads with",
    )
    cflow_user_key: SecretStr | None = Field(
        default=None, description="that service account's user key (Cflow: Profile > API Key)"
    )
    cflow_timeout: float = Field(
        default=10.0, gt=0, description="seconds to wait for one Cflow call, a number above 0"
    )
    cflow_request_url: str | None = Field(
        default=None, description="a link template such as https://…/{workflow_id}/{request_id}"
    )

    slack_bot_token: SecretStr | None = Field(
        default=None,
        description="the bot token, starting with xoxb- (Slack app: OAuth & Permissions)",
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="the signing secret (Slack app: Basic Information)"
    )
    slack_app_token: SecretStr | None = Field(
        default=None, description="an app-level token starting with xapp-, with connections:write"
    )
    slack_api_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://slack.com/api/"),
        description="the Slack Web API base URL, e.g. https://slack.com/api/",
    )
    slack_client_id: str | None = Field(
        default=None, description="the app's client id (Slack app: Basic Information)"
    )
    slack_client_secret: SecretStr | None = Field(
        default=None, description="the app's client secret (Slack app: Basic Information)"
    )
    slack_state_secret: SecretStr | None = Field(
        default=None,
        description="a random secret of your own (e.g. `openssl rand -hex 32`) that "
        "ties an install's state cookie to this deployment",
    )
    slack_redirect_uri: AnyHttpUrl | None = Field(
        default=None,
        description="the public URL of /slack/oauth_redirect, as listed in the app's "
        "Redirect URLs (unset: Slack uses the app's only one)",
    )
    slack_authorize_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://slack.com/oauth/v2/authorize"),
        description="Slack's authorize page, e.g. https://slack.com/oauth/v2/authorize",
    )

    cflow_notify_channel: str | None = Field(
        default=None,
        description="the Slack channel (id C… or #name) for workflows with no subscription",
    )
    cflow_poll_interval: float = Field(
        default=30.0, gt=0, description="seconds between polls, a number above 0 (e.g. 30 or 0.5)"
    )
    cflow_hook_secret: SecretStr | None = Field(
        default=None,
        description="the secret Cflow's rule sends to POST /cflow/hook (at least 24 "
        "characters); unset, the hook is off and polling alone finds changes",
    )
    cflow_trusted_proxies: Annotated[list[Network], NoDecode] = Field(
        default_factory=list,
        description="comma-separated IP addresses or networks of the proxies in front of "
        "the bot, e.g. 10.0.0.0/8,192.168.1.5, whose X-Forwarded-For is believed (none "
        "by default)",
    )
    cflow_remind_after: float = Field(
        default=24.0,
        ge=0,
        description="hours a request waits at a stage before its reviewers are reminded "
        "(working hours in their time zone; 0: no reminders)",
    )
    cflow_remind_every: float = Field(
        default=24.0, gt=0, description="hours between reminders of one request (above 0)"
    )
    cflow_remind_max: int = Field(
        default=3, ge=1, description="reminders of one request to one reviewer (1 or more)"
    )
    cflow_escalate_after: float = Field(
        default=72.0,
        ge=0,
        description="hours a request waits at a stage before it is escalated in its "
        "card's thread (0: never)",
    )
    cflow_burst_limit: int = Field(
        default=5,
        ge=1,
        description=(
            "new requests one cycle may card in one channel, or DM to one reviewer; "
            "beyond it they share one summary or one grouped DM (a whole number, 1 or more)"
        ),
    )
    slack_rate_scale: float = Field(
        default=1.0,
        gt=0,
        description=(
            "how many times Slack's published rate limits the bot paces to; only for a "
            "Slack stand-in with other limits (tests, the playground), never for Slack"
        ),
    )
    database_url: str = Field(
        default="sqlite:///cflow-bot.db",
        description="sqlite:///path/to/file.db or postgresql://user:pass@host/db",
    )
    cflow_bot_secret_key: SecretStr | None = Field(
        default=None, description="one or more comma-separated Fernet keys (cflow-bot keygen)"
    )
    cflow_bot_admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated Slack user ids, e.g. U012ABC,U034DEF"
    )
    port: int = Field(
        default=3000,
        ge=0,
        le=65535,
        description="the HTTP port to listen on, 1-65535 (0: any free port, logged at start)",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="a token GET /metrics then requires as Authorization: Bearer <token> "
        f"(at least {MIN_METRICS_TOKEN} characters); unset, /metrics is open",
    )
    log_level: str = Field(default="INFO", description="one of " + ", ".join(LOG_LEVELS))
    log_format: Literal["plain", "json"] = Field(default="plain", description="plain or json")

    @field_validator("cflow_bot_admins", mode="before")
    @classmethod
    def _split_admins(cls, value: Any) -> list[str]:
        admins = _comma_list(value)
        bad = [admin for admin in admins if not SLACK_USER_ID.match(admin)]
        if bad:
            raise ValueError(f"not Slack user ids: {', '.join(bad)}")
        return admins

    @field_validator("slack_client_id", "slack_client_secret", "slack_state_secret")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return value if _is_set(value) else None

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_prefix(cls, value: SecretStr | None) -> SecretStr | None:
        return _require_prefix(value, "xoxb-")

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_prefix(cls, value: SecretStr | None) -> SecretStr | None:
        return _require_prefix(value, "xapp-")

    @field_validator("cflow_hook_secret")
    @classmethod
    def _long_hook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_HOOK_SECRET:
            raise ValueError(f"too short: at least {MIN_HOOK_SECRET} characters")
        if value is not None and not value.get_secret_value().isascii():
            raise ValueError("only ASCII characters (it is sent in a URL or a header)")
        return value or None

    @field_validator("cflow_trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> list[Network]:
        networks, bad = [], []
        for item in _comma_list(value):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except (ValueError, TypeError):
                bad.append(str(item))
        if bad:
            raise ValueError(f"not IP addresses or networks: {', '.join(bad)}")
        return networks

    @field_validator("metrics_token")
    @classmethod
    def _long_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        token = value.get_secret_value() if value is not None else ""
        if token and len(token) < MIN_METRICS_TOKEN:
            raise ValueError(f"too short: at least {MIN_METRICS_TOKEN} characters")
        if token and not (token.isascii() and token.isprintable() and " " not in token):
            raise ValueError("only ASCII characters without spaces (it is sent in a header)")
        return value if token else None

    @field_validator("cflow_bot_secret_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            for key in _comma_list(value.get_secret_value()):
                try:
                    Fernet(key)
                except (ValueError, TypeError):
                    raise ValueError("not a valid Fernet key") from None
        return value

    @field_validator("cflow_request_url")
    @classmethod
    def _url_template(cls, value: str | None) -> str | None:
        if value:
            try:
                filled = value.format(workflow_id="1", request_id="2")
            except (KeyError, IndexError, ValueError):
                raise ValueError("only {workflow_id} and {request_id} may be filled in") from None
            if not filled.startswith(("https://", "http://")):
                raise ValueError("should be an http(s) URL")
        return value or None

    @field_validator("log_format", mode="before")
    @classmethod
    def _format_lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: Any) -> str:
        level = str(value).strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError("unknown log level")
        return level

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgres://", "postgresql://")):
            raise ValueError("unsupported database")
        return value

    @model_validator(mode="after")
    def _one_slack_mode(self) -> Settings:
        """OAuth mode takes all three of its variables, and no single workspace's token:
        an installation's token and SLACK_BOT_TOKEN side by side would leave unsaid
        which workspace the poller and the listeners act in."""
        given = [name for name in SLACK_OAUTH if _is_set(getattr(self, name.lower()))]
        if given and len(given) < len(SLACK_OAUTH):
            missing = [name for name in SLACK_OAUTH if name not in given]
            problem = f"missing for OAuth mode (set: {', '.join(given)})"
            raise SettingsError({name: f"{problem}; set it to {HINTS[name]}" for name in missing})
        if given and self.slack_bot_token is not None:
            raise SettingsError(
                {
                    "SLACK_BOT_TOKEN": "set together with SLACK_CLIENT_ID: choose one mode; "
                    "unset SLACK_BOT_TOKEN to install by OAuth, or the SLACK_CLIENT_* "
                    "and SLACK_STATE_SECRET variables to serve one workspace"
                }
            )
        return self

    @property
    def oauth_mode(self) -> bool:
        """Workspaces install the app through /slack/install (issue 25)."""
        return self.slack_client_id is not None

    @property
    def shown_database_url(self) -> str:
        """DATABASE_URL as it may be printed: without its password."""
        parts = urlsplit(self.database_url)
        if not parts.password:
            return self.database_url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()

    def secret_values(self) -> list[str]:
        """Every secret this process knows, for masking in logs."""
        secrets = [
            value.get_secret_value()
            for value in (
                self.cflow_api_key,
                self.cflow_user_key,
                self.slack_bot_token,
                self.slack_signing_secret,
                self.slack_app_token,
                self.slack_client_secret,
                self.slack_state_secret,
                self.cflow_hook_secret,
                self.metrics_token,
            )
            if value is not None
        ]
        password = urlsplit(self.database_url).password
        return secrets + self.secret_keys + ([password] if password else [])

    @property
    def secret_keys(self) -> list[str]:
        """The Fernet keys, newest first (MultiFernet encrypts with the first)."""
        raw = self.cflow_bot_secret_key.get_secret_value() if self.cflow_bot_secret_key else ""
        return _comma_list(raw)

    @property
    def slack_api_base(self) -> str:
        """The Slack API URL with the trailing slash slack_sdk expects."""
        url = str(self.slack_api_url)
        return url if url.endswith("/") else url + "/"

    def request_url(self, workflow_id: str, request_id: str) -> str:
        """The request's page in Cflow's web app for the card's link button.

        Cflow's REST API does not say where a request's page is, so without
        CFLOW_REQUEST_URL the button opens Cflow itself rather than a guessed address.
        """
        if self.cflow_request_url:
            return self.cflow_request_url.format(
                workflow_id=quote(workflow_id, safe=""), request_id=quote(request_id, safe="")
            )
        return str(self.cflow_base_url)

    def service_credentials(self) -> Credentials:
        """The service account the poller reads with; stops when any part is unset."""
        self.require(*CFLOW_SERVICE_ACCOUNT)
        assert self.cflow_api_key and self.cflow_username and self.cflow_user_key
        return Credentials(
            api_key=self.cflow_api_key, username=self.cflow_username, user_key=self.cflow_user_key
        )

    def require(self, *names: str) -> None:
        """Stop with one error naming every one of `names` that is unset or empty."""
        missing = {}
        for name in names:
            value = getattr(self, name.lower())
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value in (None, "", []):
                missing[name] = f"missing; set it to {HINTS[name]}"
        if missing:
            raise SettingsError(missing)


def _hints() -> dict[str, str]:
    """Each variable's hint, from its field's description (the variable is the field name)."""
    return {
        name.upper(): field.description
        for name, field in Settings.model_fields.items()
        if field.description
    }


# What each variable should hold, for error messages that tell people how to fix them.
HINTS: dict[str, str] = _hints()


def _is_set(value: Any) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value not in (None, "")


def _require_prefix(value: SecretStr | None, prefix: str) -> SecretStr | None:
    if value is not None and not value.get_secret_value().startswith(prefix):
        raise ValueError(f"should start with {prefix}")
    return value


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Read the settings, turning pydantic's errors into one `SettingsError`.

    The offending value is never echoed: it may be a secret.
    """
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as error:
        raise SettingsError(_problems(error)) from None
    except SettingsError:
        raise  # the mode check names its variables itself


def _problems(error: ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for detail in error.errors(include_input=False, include_url=False):
        name = str(detail["loc"][0]).upper() if detail["loc"] else "settings"
        reason = str(detail["msg"]).removeprefix("Value error, ")
        problems[name] = f"{reason}; set it to {HINTS.get(name, 'a valid value')}"
    return problems
