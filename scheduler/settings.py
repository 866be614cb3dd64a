"""Settings from the environment, .env files and the workspace file. The only place the environment is read, and
the only place a default is written. Credentials live here only, never in calendars (nor in the workspace file).

Each setting comes from the first of: the environment, a .env in the current folder, a .env beside the workspace
file, the workspace file (see scheduler/workspace.py), the default. A relative path is taken from where it was
written: the current folder for the environment and its .env, the workspace folder for the other two."""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from content_calendar.model import DEFAULT_TIMEZONE, PLATFORMS
from platforms.base import Secret
from scheduler.alert_urls import split_alert_urls, url_secrets
from scheduler.errors import Refused
from scheduler.workspace import NoWorkspace, absolute_sqlite, find_workspace, read_workspace

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
    # Session cookies marked Secure: set it when the workspace is served over TLS (behind a proxy).
    web_secure_cookies: bool = field(default=False, metadata=_env("CAMPAIGN_WEB_SECURE_COOKIES"))
    bluesky_service: str = field(default="https://bsky.social", metadata=_env("BLUESKY_SERVICE"))
    bluesky_handle: str = field(default="", metadata=_env("BLUESKY_HANDLE"))
    bluesky_app_password: Secret = field(default_factory=lambda: Secret(""), metadata=_env("BLUESKY_APP_PASSWORD"))
    # Where videos go: "auto" (Bluesky's video service for accounts on Bluesky's own servers, otherwise as a file on
    # the account's server), a video service's address, or "" (always as a file on the account's server).
    bluesky_video_service: str = field(default="auto", metadata=_env("BLUESKY_VIDEO_SERVICE"))
    # Listening: the relay (or PDS) whose repository stream `campaign listen` follows, e.g. https://bsky.network;
    # empty: no listening (hashtag search alone). How far back it replays events, and the lag that raises an alert.
    bluesky_relay: str = field(default="", metadata=_env("BLUESKY_RELAY"))
    listen_replay_hours: float = field(default=72.0, metadata=_env("CAMPAIGN_LISTEN_REPLAY_HOURS"))
    listen_lag_alert_seconds: float = field(default=600.0, metadata=_env("CAMPAIGN_LISTEN_LAG_ALERT_SECONDS"))
    mastodon_api_base_url: str = field(default="", metadata=_env("MASTODON_API_BASE_URL"))
    mastodon_access_token: Secret = field(default_factory=lambda: Secret(""), metadata=_env("MASTODON_ACCESS_TOKEN"))
    # Where alerts go: Apprise URLs (mailto://, slack://, json://, ntfy://, ...), separated by commas or spaces.
    # They hold tokens: set them in the environment or .env only, never in a calendar or campaign.yaml.
    alert_urls: Secret = field(default_factory=lambda: Secret(""), metadata=_env("CAMPAIGN_ALERT_URLS"))
    alert_digest: str = field(default="", metadata=_env("CAMPAIGN_ALERT_DIGEST"))  # "daily": one message a day
    # A post still waiting for its approval this many hours before its time raises an alert.
    alert_approval_hours: float = field(default=24.0, metadata=_env("CAMPAIGN_ALERT_APPROVAL_HOURS"))
    web_url: str = field(default="http://127.0.0.1:8000/", metadata=_env("CAMPAIGN_WEB_URL"))  # alerts link to it
    alert_seconds: float = field(default=60.0, metadata=_env("CAMPAIGN_ALERT_SECONDS"))  # how often beat looks
    debug: bool = field(default=False, metadata=_env("CAMPAIGN_DEBUG"))  # show tracebacks of refusals
    # Who runs the commands here, when `campaign --as` does not say: a user of the workspace (default: the login name).
    campaign_user: str = field(default="", metadata=_env("CAMPAIGN_USER"))
    workspace: Path | None = None  # the workspace file these settings came from
    # Set when neither a workspace nor the environment named the database: where the search for a workspace
    # began. The schedule is then nowhere in particular, and using it is refused (see `unplaced`).
    no_workspace_above: Path | None = None

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

    def unplaced(self) -> Refused | None:
        """Why the schedule may not be used, when nothing said where it is."""
        return NoWorkspace(self.no_workspace_above) if self.no_workspace_above is not None else None

    def database_label(self) -> str:
        """The database as a person reads it: a SQLite file relative to the workspace when inside it, else the
        URL with its password hidden."""
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            path = Path(url.database)
            root = self.workspace.parent if self.workspace else None
            return str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
        return url.render_as_string(hide_password=True)

    def secrets(self) -> list[str]:
        """Every secret value these settings hold (for the redactor): the platform credentials, and each alert
        address with its secret parts."""
        alerts = [secret for url in self.alert_url_list() for secret in url_secrets(url)]
        return [self.bluesky_app_password.reveal(), self.mastodon_access_token.reveal(), *alerts]

    def alert_url_list(self) -> list[str]:
        return split_alert_urls(self.alert_urls.reveal())

    @property
    def alert_digest_daily(self) -> bool:
        return self.alert_digest.strip().lower() == "daily"

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
        if self.workspace:
            env["CAMPAIGN_WORKSPACE"] = str(self.workspace)
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


def debug_requested(environ: dict[str, str] | None = None) -> bool:
    """CAMPAIGN_DEBUG from the environment alone: asked for when the settings themselves cannot be read."""
    raw = (os.environ if environ is None else environ).get("CAMPAIGN_DEBUG", "")
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


# The settings that say where the schedule is: one of them, or a workspace, names the database.
_PLACING = ("CAMPAIGN_DATA_DIR", "CAMPAIGN_DATABASE_URL")


def load_settings(
    environ: dict[str, str] | None = None,
    *,
    dotenv_path: Path | None = None,
    workspace: Path | None = None,
    start: Path | None = None,
) -> Settings:
    """Settings from `environ` (default: os.environ), the .env file `dotenv_path` (default: .env in `start`),
    the workspace (`workspace`, else the one CAMPAIGN_WORKSPACE names, else the nearest above `start`) and its
    .env, then the defaults. `start` defaults to the current folder."""
    here = (start or Path.cwd()).resolve()
    environment = dict(os.environ if environ is None else environ)
    local = _dotenv(dotenv_path or here / ".env")
    named = (environment.get("CAMPAIGN_WORKSPACE") or local.get("CAMPAIGN_WORKSPACE") or "").strip()
    file = workspace.resolve() if workspace else find_workspace(here, named)
    layers: list[tuple[dict[str, str], Path]] = [(environment, here), (local, here)]  # first wins
    if file is not None:
        layers += [(_dotenv(file.parent / ".env"), file.parent), (read_workspace(file).values, file.parent)]

    def origin(name: str) -> tuple[str, Path] | None:
        for values, base in layers:
            raw = values.get(name, "").strip()
            if raw:
                return raw, base
        return None

    def get(name: str, default: str = "") -> str:
        found = origin(name)
        return found[0] if found else default

    def path(name: str, default: Path) -> Path:
        found = origin(name)
        return (found[1] / Path(found[0]).expanduser()).resolve() if found else default.resolve()

    home = file.parent if file is not None else here
    data_dir = path("CAMPAIGN_DATA_DIR", home / "var")
    if file is not None:
        default_campaigns = home / "campaigns"
    else:
        default_campaigns = here / "campaigns" if (here / "campaigns").is_dir() else _project_root() / "campaigns"
    database_url = _database_url(origin("CAMPAIGN_DATABASE_URL"), data_dir)
    tuned: dict[str, Any] = {}
    for item in fields(Settings):
        name = item.metadata.get("env")
        raw = get(name) if name else ""
        if raw:
            try:
                tuned[item.name] = _typed(item, raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not a number: set it to a number or remove it.") from None
    digest = tuned.get("alert_digest", "").strip().lower()
    if digest not in ("", "off", "daily"):
        raise SettingsError(
            f"CAMPAIGN_ALERT_DIGEST={digest!r} is not a choice: set it to daily (one message a day) or remove it "
            "(each alert at once)."
        )
    placed = file is not None or any(origin(name) for name in _PLACING)
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=get("CAMPAIGN_REDIS_URL") or None,
        campaigns_dir=path("CAMPAIGN_CAMPAIGNS_DIR", default_campaigns),
        outbox_path=path("CAMPAIGN_OUTBOX", data_dir / "outbox.jsonl"),
        reports_dir=path("CAMPAIGN_REPORTS_DIR", data_dir / "reports"),
        workspace=file,
        no_workspace_above=None if placed else here,
        **tuned,
    )


def _database_url(given: tuple[str, Path] | None, data_dir: Path) -> str:
    """The database URL as given (a SQLite file named relative to where it was written, made absolute), or
    SQLite in the data folder."""
    if given is None:
        return f"sqlite:///{data_dir / 'campaign.db'}"
    raw, base = given
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(
            "CAMPAIGN_DATABASE_URL is not a database URL: use one such as sqlite:///var/campaign.db or "
            "postgresql+psycopg://user:password@host/database."
        ) from None
    placed = absolute_sqlite(url, base)
    return raw if placed is url else placed.render_as_string(hide_password=False)


class SettingsError(Refused, ValueError):
    """A setting that cannot be used; the message names it and says what to do."""
