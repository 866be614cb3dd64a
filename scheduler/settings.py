"""Settings from the environment (and an optional .env). Credentials live here only, never in calendars."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from platforms.base import Secret


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None  # None: the CLI starts an embedded redis-server on a private socket
    campaigns_dir: Path
    outbox_path: Path
    reports_dir: Path
    tick_seconds: float = 5.0
    claim_window_seconds: float = 15.0
    lease_seconds: float = 120.0
    publish_lease_seconds: float = 300.0
    max_attempts: int = 8
    bluesky_service: str = "https://bsky.social"
    bluesky_handle: str = ""
    bluesky_app_password: Secret = field(default_factory=lambda: Secret(""))
    mastodon_api_base_url: str = ""
    mastodon_access_token: Secret = field(default_factory=lambda: Secret(""))

    @property
    def bluesky_configured(self) -> bool:
        return bool(self.bluesky_handle and self.bluesky_app_password)

    @property
    def mastodon_configured(self) -> bool:
        return bool(self.mastodon_api_base_url and self.mastodon_access_token)

    def dry_run_platforms(self) -> list[str]:
        missing = []
        if not self.bluesky_configured:
            missing.append("bluesky")
        if not self.mastodon_configured:
            missing.append("mastodon")
        return missing

    def to_env(self) -> dict[str, str]:
        """The environment that gives a child process (worker, beat) these same settings."""
        env = {
            "CAMPAIGN_DATA_DIR": str(self.data_dir),
            "CAMPAIGN_DATABASE_URL": self.database_url,
            "CAMPAIGN_CAMPAIGNS_DIR": str(self.campaigns_dir),
            "CAMPAIGN_OUTBOX": str(self.outbox_path),
            "CAMPAIGN_REPORTS_DIR": str(self.reports_dir),
            "CAMPAIGN_TICK_SECONDS": str(self.tick_seconds),
            "CAMPAIGN_CLAIM_WINDOW_SECONDS": str(self.claim_window_seconds),
            "CAMPAIGN_LEASE_SECONDS": str(self.lease_seconds),
            "CAMPAIGN_PUBLISH_LEASE_SECONDS": str(self.publish_lease_seconds),
            "CAMPAIGN_MAX_ATTEMPTS": str(self.max_attempts),
            "BLUESKY_SERVICE": self.bluesky_service,
            "BLUESKY_HANDLE": self.bluesky_handle,
            "BLUESKY_APP_PASSWORD": self.bluesky_app_password.reveal(),
            "MASTODON_API_BASE_URL": self.mastodon_api_base_url,
            "MASTODON_ACCESS_TOKEN": self.mastodon_access_token.reveal(),
        }
        if self.redis_url:
            env["CAMPAIGN_REDIS_URL"] = self.redis_url
        return env


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
    return Settings(
        data_dir=data_dir,
        database_url=get("CAMPAIGN_DATABASE_URL") or f"sqlite:///{data_dir / 'campaign.db'}",
        redis_url=get("CAMPAIGN_REDIS_URL") or None,
        campaigns_dir=Path(get("CAMPAIGN_CAMPAIGNS_DIR") or default_campaigns).resolve(),
        outbox_path=Path(get("CAMPAIGN_OUTBOX") or data_dir / "outbox.jsonl").resolve(),
        reports_dir=Path(get("CAMPAIGN_REPORTS_DIR") or data_dir / "reports").resolve(),
        tick_seconds=float(get("CAMPAIGN_TICK_SECONDS") or 5.0),
        claim_window_seconds=float(get("CAMPAIGN_CLAIM_WINDOW_SECONDS") or 15.0),
        lease_seconds=float(get("CAMPAIGN_LEASE_SECONDS") or 120.0),
        publish_lease_seconds=float(get("CAMPAIGN_PUBLISH_LEASE_SECONDS") or 300.0),
        max_attempts=int(get("CAMPAIGN_MAX_ATTEMPTS") or 8),
        bluesky_service=get("BLUESKY_SERVICE") or "https://bsky.social",
        bluesky_handle=get("BLUESKY_HANDLE"),
        bluesky_app_password=Secret(get("BLUESKY_APP_PASSWORD")),
        mastodon_api_base_url=get("MASTODON_API_BASE_URL"),
        mastodon_access_token=Secret(get("MASTODON_ACCESS_TOKEN")),
    )
