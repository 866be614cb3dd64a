"""Settings from the environment (and an optional .env). The only place the environment is read, and the only
place a default is written. Credentials live here only, never in calendars."""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from content_calendar.model import DEFAULT_TIMEZONE, PLATFORMS
from platforms.base import Secret

# The settings each platform needs before it is posted to for real; without them its posts go to the outbox.
CREDENTIAL_SETTINGS = {
    "bluesky": "BLUESKY_HANDLE and BLUESKY_APP_PASSWORD",
    "mastodon": "MASTODON_API_BASE_URL and MASTODON_ACCESS_TOKEN",
}


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _env(name: str) -> dict[str, str]:
    return {"env": name}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None  # None: the CLI starts an embedded redis-server on a private socket
    campaigns_dir: Path
    outbox_path: Path
    reports_dir: Path
    timezone: str = field(default=DEFAULT_TIMEZONE, metadata=_env("CAMPAIGN_TIMEZONE"))  # for times typed in
    tick_seconds: float = field(default=5.0, metadata=_env("CAMPAIGN_TICK_SECONDS"))
    claim_window_seconds: float = field(default=15.0, metadata=_env("CAMPAIGN_CLAIM_WINDOW_SECONDS"))
    lease_seconds: float = field(default=120.0, metadata=_env("CAMPAIGN_LEASE_SECONDS"))
    publish_lease_seconds: float = field(default=300.0, metadata=_env("CAMPAIGN_PUBLISH_LEASE_SECONDS"))
    max_attempts: int = field(default=8, metadata=_env("CAMPAIGN_MAX_ATTEMPTS"))
    # After an attempt whose outcome is unknown (a timeout, a connection reset after sending), how long the
    # next one waits before it looks for the post and sends it again: a slow platform may still be writing it.
    settle_seconds: float = field(default=60.0, metadata=_env("CAMPAIGN_SETTLE_SECONDS"))
    collect_seconds: float = field(default=300.0, metadata=_env("CAMPAIGN_COLLECT_SECONDS"))  # mentions
    engagement_seconds: float = field(default=600.0, metadata=_env("CAMPAIGN_ENGAGEMENT_SECONDS"))
    bluesky_service: str = field(default="https://bsky.social", metadata=_env("BLUESKY_SERVICE"))
    bluesky_handle: str = field(default="", metadata=_env("BLUESKY_HANDLE"))
    bluesky_app_password: Secret = field(default_factory=lambda: Secret(""), metadata=_env("BLUESKY_APP_PASSWORD"))
    mastodon_api_base_url: str = field(default="", metadata=_env("MASTODON_API_BASE_URL"))
    mastodon_access_token: Secret = field(default_factory=lambda: Secret(""), metadata=_env("MASTODON_ACCESS_TOKEN"))

    @property
    def bluesky_configured(self) -> bool:
        return bool(self.bluesky_handle and self.bluesky_app_password)

    @property
    def mastodon_configured(self) -> bool:
        return bool(self.mastodon_api_base_url and self.mastodon_access_token)

    def configured(self, platform: str) -> bool:
        return {"bluesky": self.bluesky_configured, "mastodon": self.mastodon_configured}.get(platform, False)

    def dry_run_platforms(self) -> list[str]:
        return [platform for platform in PLATFORMS if not self.configured(platform)]

    def secrets(self) -> list[str]:
        """Every secret value these settings hold (for the redactor)."""
        return [self.bluesky_app_password.reveal(), self.mastodon_access_token.reveal()]

    def to_env(self) -> dict[str, str]:
        """The environment that gives a child process (worker, beat) these same settings."""
        env = {
            "CAMPAIGN_DATA_DIR": str(self.data_dir),
            "CAMPAIGN_DATABASE_URL": self.database_url,
            "CAMPAIGN_CAMPAIGNS_DIR": str(self.campaigns_dir),
            "CAMPAIGN_OUTBOX": str(self.outbox_path),
            "CAMPAIGN_REPORTS_DIR": str(self.reports_dir),
        }
        for item in fields(self):
            name = item.metadata.get("env")
            if name:
                value = getattr(self, item.name)
                env[name] = value.reveal() if isinstance(value, Secret) else str(value)
        if self.redis_url:
            env["CAMPAIGN_REDIS_URL"] = self.redis_url
        return env


def process_environment() -> dict[str, str]:
    """This process's environment, for the child processes `campaign run` starts."""
    return dict(os.environ)


def _typed(item: Any, raw: str) -> Any:
    default = item.default if item.default is not MISSING else item.default_factory()
    if isinstance(default, Secret):
        return Secret(raw)
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_settings(environ: dict[str, str] | None = None, *, dotenv_path: Path | None = None) -> Settings:
    """Settings from `environ` (default: os.environ) over a .env file in the working directory."""
    source: dict[str, str] = {}
    env_file = dotenv_path or Path.cwd() / ".env"
    if env_file.is_file():
        source.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    source.update(os.environ if environ is None else environ)

    def get(name: str, default: str = "") -> str:
        return source.get(name, default).strip()

    data_dir = Path(get("CAMPAIGN_DATA_DIR") or "var").resolve()
    default_campaigns = Path("campaigns") if Path("campaigns").is_dir() else _project_root() / "campaigns"
    tuned: dict[str, Any] = {}
    for item in fields(Settings):
        name = item.metadata.get("env")
        raw = get(name) if name else ""
        if raw:
            try:
                tuned[item.name] = _typed(item, raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not a number: set it to a number or remove it.") from None
    return Settings(
        data_dir=data_dir,
        database_url=get("CAMPAIGN_DATABASE_URL") or f"sqlite:///{data_dir / 'campaign.db'}",
        redis_url=get("CAMPAIGN_REDIS_URL") or None,
        campaigns_dir=Path(get("CAMPAIGN_CAMPAIGNS_DIR") or default_campaigns).resolve(),
        outbox_path=Path(get("CAMPAIGN_OUTBOX") or data_dir / "outbox.jsonl").resolve(),
        reports_dir=Path(get("CAMPAIGN_REPORTS_DIR") or data_dir / "reports").resolve(),
        **tuned,
    )


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it and says what to do."""
