"""What every command shares: the application API (built once per invocation), who is acting, times in the
campaign's own zone, and one place where refusals become a message and an exit code."""

from __future__ import annotations

import getpass
import socket
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from scheduler.api import CREDENTIAL_SETTINGS, Api, Refused


def _refusal(ctx: click.Context, refused: Refused) -> None:
    for line in refused.lines:
        click.secho(line, fg="red", err=True)
    ctx.exit(refused.exit_code)


class CampaignCommand(click.Command):
    """A command whose refusals (scheduler.errors.Refused) print their lines in red and exit with their code,
    without a traceback: the one place a refusal becomes an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Refused as refused:
            _refusal(ctx, refused)


class CampaignGroup(click.Group):
    """A group whose commands (and sub-groups) are CampaignCommands, and whose own refusals are handled alike."""

    command_class = CampaignCommand

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Refused as refused:
            _refusal(ctx, refused)


CampaignGroup.group_class = CampaignGroup


def api() -> Api:
    """The Api of this invocation, built on first use and closed when the command ends."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    built = root.meta.get("campaign.api")
    if built is None:
        built = Api.from_settings()
        root.meta["campaign.api"] = built
        root.call_on_close(built.close)
    assert isinstance(built, Api)
    return built


def actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "operator"
    return f"{user}@{socket.gethostname()}"


def local(instant: datetime | None, zone: str) -> str:
    """An instant as people read it in `zone`, with the zone's abbreviation (GMT or BST in London)."""
    if instant is None:
        return "-"
    moment = instant.astimezone(ZoneInfo(zone))
    return moment.strftime("%a %d %b %Y %H:%M %Z")


def dry_run_notice(app: Api) -> None:
    missing = app.settings.dry_run_platforms()
    if missing:
        click.secho(
            f"Dry run for {', '.join(missing)}: no credentials, so their posts go to the outbox "
            f"{app.settings.outbox_path} (see `campaign outbox`). Set "
            + " / ".join(CREDENTIAL_SETTINGS[p] for p in missing)
            + " to post for real.",
            fg="yellow",
            err=True,
        )
