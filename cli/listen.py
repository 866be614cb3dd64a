"""`campaign listen`: follow Bluesky's repository stream and keep hashtag mentions and our posts' engagement as
they happen (the work is the core's: scheduler/listening.py, through Api.listen)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from cli.common import CampaignCommand, actor, api
from scheduler.api import Refused


@click.command(cls=CampaignCommand)
@click.option("--relay", metavar="URL", default=None, help="The relay or PDS to follow (default: BLUESKY_RELAY).")
@click.option("--supervised", is_flag=True, hidden=True, help="Started by campaign run: a refusal waits, not exits.")
def listen(relay: str | None, supervised: bool) -> None:
    """Listen to Bluesky as it happens: posts using a campaign hashtag are kept as mentions, and likes, reposts,
    replies and quotes of our posts are counted, seconds after they are made. Runs until stopped (Ctrl+C);
    `campaign run` starts it by itself when BLUESKY_RELAY is set. Stopped and started again, it carries on where
    it stopped; a stop longer than the relay keeps events (72 hours) is read back by hashtag search.

    \b
    Examples:
      BLUESKY_RELAY=https://bsky.network campaign listen
      campaign listen --relay https://bsky.network
    """
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def started(listener: object, cursor: int | None) -> None:
        where = "from now on" if cursor is None else f"after event {cursor}"
        click.echo(f"Listening to {getattr(listener, 'source', relay)} {where}. Stop with Ctrl+C.", err=True)

    def waiting(message: str) -> None:
        click.echo(f"{message} Stop with Ctrl+C.", err=True)

    try:
        app = api()
        totals = app.listen(actor=actor(), relay=relay, stop=stopping.is_set, on_start=started, on_wait=waiting)
    except Refused as refused:
        if not supervised:
            raise
        # Under `campaign run`: exiting would be restarted again and again, and a listener must never stop posting.
        click.echo(f"Not listening: {refused}", err=True)
        while not stopping.wait(1.0):
            pass
        return
    click.echo(
        f"Stopped listening: {totals.events} event(s) read, {totals.mentions.stored} new mention(s), "
        f"{totals.interactions} new like(s), repost(s), replies and quote(s) of our posts.",
        err=True,
    )
