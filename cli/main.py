"""`campaign`: plan, check and post campaign calendars to Bluesky and Mastodon, exactly once.

Every command parses its arguments, makes one call into the application API (scheduler.api) and prints."""

from __future__ import annotations

import click

from cli.accounts import accounts, outbox
from cli.alerts import alerts, health
from cli.calendar import calendar
from cli.calendar_check import check_command
from cli.common import CampaignGroup
from cli.demo import demo
from cli.engine import rehearse, run
from cli.holds import hold, holds, release
from cli.listen import listen
from cli.operate import cancel, pause, post_now, restore, resume, retry
from cli.reports import collect, report
from cli.review import approve, reject, review
from cli.schedule import schedule, status
from cli.serve import serve
from cli.users import users
from cli.workspace import init


@click.group(cls=CampaignGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="campaign-scheduler")
@click.option("--debug", is_flag=True, help="Show the full traceback with any problem (for a bug report).")
@click.option(
    "--as",
    "as_name",
    metavar="NAME",
    default=None,
    help="Who you are: a user of this workspace (default: CAMPAIGN_USER, else your login name). Approving, rejecting "
    "and scheduling posts that need approval are done in your name.",
)
@click.pass_context
def main(ctx: click.Context, debug: bool, as_name: str | None) -> None:
    """Plan, check and post survivor-led campaign calendars to Bluesky and Mastodon, exactly once.

    Commands act on the workspace they are run in: the folder with a campaign.toml (`campaign init` makes
    one), here or above; CAMPAIGN_WORKSPACE names one from anywhere. Settings come from the environment, a
    .env file (here, or beside campaign.toml), then campaign.toml: CAMPAIGN_DATABASE_URL (default SQLite in
    the workspace's var/), CAMPAIGN_REDIS_URL (default: a private Redis that `campaign run` starts),
    BLUESKY_HANDLE, BLUESKY_APP_PASSWORD, BLUESKY_SERVICE, MASTODON_API_BASE_URL, MASTODON_ACCESS_TOKEN.
    A platform without credentials is a dry run: its posts go to the outbox file.

    \b
    Examples:
      campaign calendar validate campaigns/act-on-iicsa/calendars/jan-mar-2027.yaml
      campaign schedule campaigns/act-on-iicsa/calendars/jan-mar-2027.yaml
      campaign status
    """
    ctx.meta["campaign.debug"] = debug
    ctx.meta["campaign.as"] = as_name


for command in (init, calendar, schedule, status, pause, resume, cancel, restore, retry, post_now, accounts, outbox,
                run, rehearse, report, collect, users, serve, demo, review, approve, reject):  # fmt: skip
    main.add_command(command)
for command in (hold, holds, release, alerts, health, listen):  # safeguarding holds, alerts, health, listening
    main.add_command(command)
calendar.add_command(check_command)  # `campaign calendar check` (cli/calendar_check.py)

if __name__ == "__main__":
    main()
