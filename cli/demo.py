"""`campaign demo`: a workspace of made-up data, to see a populated status, web workspace and report without any
real account."""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import CampaignCommand, api
from scheduler.api import DEMO_LABEL


@click.command(cls=CampaignCommand)
@click.argument("folder", default="demo-workspace", type=click.Path(file_okay=False, path_type=Path))
def demo(folder: Path) -> None:
    """Build a demo workspace in FOLDER (default: ./demo-workspace), clearly labelled as made-up data.

    The shipped awareness week (1 to 7 February 2027) is rehearsed into the demo's own outbox by the real
    engine on a fast clock (no post reaches any platform), and a week of made-up hashtag mentions and engagement
    is added, with the launch-day spike on Monday 1 February. Every page and report made from it says "DEMO
    WORKSPACE: made-up data". A folder with anything else in it is refused; on a demo folder, the demo is made
    afresh.

    \b
    Examples:
      campaign demo
      campaign demo /tmp/campaign-demo
    """
    made = api().build_demo(folder, on_step=lambda step: click.echo(f"{step}...", err=True))
    again = " (made afresh)" if made.rebuilt else ""
    click.secho(f"{DEMO_LABEL}: {made.folder}{again}", fg="magenta", bold=True)
    click.echo(
        f"  {made.posts} posts of {made.campaign} published to the demo's outbox ({made.parts_published} parts on "
        f"Bluesky and Mastodon), {made.mentions} made-up hashtag mentions, {made.snapshots} engagement snapshots."
    )
    click.echo(f"  Outbox: {made.outbox}")
    if made.elsewhere:
        click.secho(
            f"Commands run in {made.folder} from this terminal would use {made.elsewhere} instead (named by your "
            "environment or a .env file): unset CAMPAIGN_DATABASE_URL, CAMPAIGN_DATA_DIR and CAMPAIGN_WORKSPACE to "
            "look at the demo.",
            fg="yellow",
            err=True,
        )
    click.echo("\nNext, try:")
    click.echo(f"  cd {made.folder} && campaign status")
    click.echo(f"  campaign report weekly --week {made.week}")
    click.echo("  campaign serve")
