"""The operator's commands: pause and resume, cancel, retry, post now."""

from __future__ import annotations

import sys
from datetime import timedelta

import click

from cli.common import CampaignCommand, actor, api, dry_run_notice
from scheduler.api import PLATFORMS


@click.command(cls=CampaignCommand)
@click.option("--reason", required=True, help="Why posting is paused (kept in the events log).")
@click.option("--wait", default=120, show_default=True, help="Seconds to wait for posts already being sent.")
def pause(reason: str, wait: int) -> None:
    """Stop all posting now. When this returns, nothing more goes out until `campaign resume`.

    Use it when news breaks and scheduled content could hurt. Posts that fall due while paused are held, and
    become missed after their misfire grace (then `campaign retry` posts them if still wanted)."""
    still = api().pause(reason=reason, actor=actor(), wait=timedelta(seconds=wait))
    if still:
        click.secho(f"Paused, but {still} post(s) were still being sent after {wait} s.", fg="yellow")
        sys.exit(1)
    click.secho("Paused. Nothing more will be posted until `campaign resume`.", fg="red", bold=True)


@click.command(cls=CampaignCommand)
def resume() -> None:
    """Resume posting after `campaign pause`."""
    was_paused, reason = api().resume(actor=actor())
    if was_paused:
        click.secho(f"Resumed (it was paused: {reason or 'no reason given'}).", fg="green")
    else:
        click.secho("Posting was not paused; nothing changed.", fg="green")


@click.command(cls=CampaignCommand)
@click.argument("post_id")
@click.option("--campaign", help="The campaign, when the same post id exists in several.")
def cancel(post_id: str, campaign: str | None) -> None:
    """Cancel every unpublished delivery of POST_ID (published ones are never touched).

    A part being published at this moment cannot be called back: it ends cancelled if that attempt fails, and
    the thread parts after it are cancelled now."""
    result = api().cancel(post_id, actor=actor(), campaign=campaign)
    count = len(result.cancelled)
    click.echo(f"Cancelled {count} deliver{'y' if count == 1 else 'ies'} of {post_id}.")
    for where in result.in_flight:
        click.secho(
            f"{post_id} {where} is being published right now and cannot be called back; if that attempt fails "
            f"it ends cancelled. See `campaign status` in a minute.",
            fg="yellow",
        )
    for where in result.maybe_live:
        click.secho(
            f"{post_id} {where}: its last attempt ended with an unknown outcome, so it may be live already. "
            f"Check the account and delete it there if it must not be up.",
            fg="yellow",
        )


@click.command(cls=CampaignCommand)
@click.argument("post_id")
@click.option("--campaign", help="The campaign, when the same post id exists in several.")
@click.option("--platform", type=click.Choice(PLATFORMS), help="Only this platform's deliveries (default: all).")
def retry(post_id: str, campaign: str | None, platform: str | None) -> None:
    """Post POST_ID's missed or failed deliveries now (an explicit decision to post late).

    One whose last attempt ended with an unknown outcome is looked for on the platform first and posted only
    if it is not there."""
    rearmed = api().retry(post_id, actor=actor(), campaign=campaign, platform=platform)
    click.echo(
        f"Re-armed {len(rearmed)} deliver{'y' if len(rearmed) == 1 else 'ies'} of {post_id}: "
        "they go out at the next tick."
    )


@click.command("post-now", cls=CampaignCommand)
@click.argument("post_id")
@click.option("--platform", required=True, type=click.Choice(PLATFORMS), help="Where to post it.")
@click.option("--campaign", help="The campaign, when the same post id exists in several.")
def post_now(post_id: str, platform: str, campaign: str | None) -> None:
    """Publish POST_ID (and its thread) to one platform now, through the same path as a scheduled post.

    It uses the same idempotency key, so a second call finds it published and posts nothing. A missed or
    failed delivery is re-armed first."""
    app = api()
    outcomes = app.post_now(post_id, platform, actor=f"post-now@{actor()}", campaign=campaign)
    failed = False
    for outcome in outcomes:
        colour = {"published": "green", "skipped": None, "failed": "red"}.get(outcome.result, "yellow")
        click.secho(f"{outcome.result}: delivery {outcome.delivery_id} {outcome.detail}".rstrip(), fg=colour)
        failed = failed or outcome.result in ("failed", "retry", "held")
    dry_run_notice(app)
    if failed:
        sys.exit(1)
