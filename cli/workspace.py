"""`campaign init`: make a folder a campaign workspace, so every command run in it (or below it) acts on the same
schedule."""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import CampaignCommand, keep, workspace_words
from scheduler.api import Api


@click.command(cls=CampaignCommand)
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--data-dir", default="var", show_default=True, help="The data folder, relative to FOLDER.")
@click.option("--campaigns-dir", default="campaigns", show_default=True, help="The campaigns, relative to FOLDER.")
@click.option("--timezone", default=None, help="The zone of times typed on the command line (default: London's).")
@click.option(
    "--database-url",
    default="",
    help="A database without a password in it (default: SQLite in the data folder). One with a password goes in "
    "CAMPAIGN_DATABASE_URL in a .env file beside campaign.toml.",
)
def init(folder: Path, data_dir: str, campaigns_dir: str, timezone: str | None, database_url: str) -> None:
    """Make FOLDER (default: here) a campaign workspace: write its campaign.toml and create its database.

    Every `campaign` command run in FOLDER or a folder below it then uses this workspace's schedule (or name it
    from anywhere with CAMPAIGN_WORKSPACE). Running it again changes nothing.

    \b
    Examples:
      campaign init
      campaign init /srv/campaigns --data-dir var
    """
    choices = {"data_dir": data_dir, "campaigns_dir": campaigns_dir, "database_url": database_url}
    app, written = Api.init_workspace(folder.resolve(), **choices, **({"timezone": timezone} if timezone else {}))
    keep(app)
    if written:
        click.secho(f"Made a campaign workspace: {workspace_words(app)}.", fg="green")
        click.echo(
            f"Settings are in {app.settings.workspace}. Every `campaign` command run in this folder or below now "
            f"uses this schedule."
        )
    else:
        click.echo(f"This is a campaign workspace already; nothing changed: {workspace_words(app)}.")
