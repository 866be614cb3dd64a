"""`campaign listen`: follow Bluesky's repository stream and keep hashtag mentions and our posts' engagement as
they happen (the work is the core's: scheduler/listening.py, through Api.listen)."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from types import FrameType

import click

from cli.common import CampaignCommand, actor, api
from scheduler.api import ExtraProcess


@click.command(cls=CampaignCommand)
@click.option("--relay", metavar="URL", default=None, help="The relay or PDS to follow (default: BLUESKY_RELAY).")
@click.option(
    "--supervised",
    is_flag=True,
    help="Started by something that starts it again when it ends (campaign run, docker compose): when there is "
    "nothing to listen to, say why and wait instead of ending.",
)
def listen(relay: str | None, supervised: bool) -> None:
    """Listen to Bluesky as it happens: posts using a campaign hashtag are kept as mentions, and likes, reposts,
    replies and quotes of our posts are counted, seconds after they are made. Runs until stopped (Ctrl+C);
    `campaign run` starts it by itself when BLUESKY_RELAY is set. Stopped and started again, it carries on where
    it stopped; a stop longer than the relay keeps events (CAMPAIGN_LISTEN_REPLAY_HOURS, 72 hours unless set) is
    read back by hashtag search.

    \b
    Examples:
      campaign listen
      campaign listen --relay https://bsky.network
      campaign listen --supervised
    """
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def started(source: str, resumed: bool, stopped: datetime | None) -> None:
        where = "from now on"
        if resumed:
            where = "from where it stopped" + (f", at {stopped:%d %b %Y %H:%M} UTC" if stopped else "")
        click.echo(f"Listening to {source} {where}. Stop with Ctrl+C.", err=True)

    def waiting(message: str) -> None:
        click.echo(f"{message} Stop with Ctrl+C.", err=True)

    totals = api().listen(
        actor=actor(), relay=relay, supervised=supervised, stop=stopping.is_set, on_start=started, on_wait=waiting
    )
    click.echo(
        f"Stopped listening: {totals.events} event(s) read, {totals.mentions.stored} new mention(s), "
        f"{totals.interactions} new like(s), repost(s), replies and quote(s) of our posts.",
        err=True,
    )


def listen_process() -> ExtraProcess:
    """`campaign listen` as a process `campaign run` supervises (it reads the same settings from its environment)."""
    return ExtraProcess("listen", (sys.executable, "-m", "cli.main", "listen", "--supervised"))
