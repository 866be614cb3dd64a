"""Safeguarding holds, finer than `campaign pause`: `campaign hold` (a campaign, a topic, a window of dates),
`campaign holds` (the list) and `campaign release` (which asks, post by post, about every post whose time came
while the hold stood)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

import click

from cli.common import CampaignCommand, acted_on, actor, api, go_ahead, local, stdin_is_terminal, yes_option
from scheduler.api import HoldView, PassedPost, UsageRefused


def _held(hold: HoldView, zone: str) -> str:
    return f"hold {hold.id}: {hold.describe(zone)}, by {hold.actor} since {local(hold.created_at, zone)}: {hold.reason}"


@click.command(cls=CampaignCommand)
@click.option("--campaign", help="Hold this campaign (its folder name); with --topic or a window, only within it.")
@click.option("--topic", help="Hold the posts carrying this topic (a calendar's `topics:`).")
@click.option("--from", "first", metavar="DATE", help="Hold the posts planned from this day (2027-02-01) ...")
@click.option("--to", "last", metavar="DATE", help="... to this day, included (or a time: 2027-02-01 18:00).")
@click.option("--reason", required=True, help="Why (kept with the hold: everyone sees it until it is released).")
def hold(campaign: str | None, topic: str | None, first: str | None, last: str | None, reason: str) -> None:
    """Hold posts back without pausing everything: one campaign, the posts carrying a topic, or the posts planned
    in a window of dates (in the workspace's time zone). Nothing it covers goes out until `campaign release`; a
    post whose time passes meanwhile is missed after its grace, and release asks whether to post it late.

    \b
    Examples:
      campaign hold --campaign act-on-iicsa --reason "the inquiry's report is out today: reading it first"
      campaign hold --topic helplines --reason "the helpline is closed over the holiday"
      campaign hold --from 2027-02-01 --to 2027-02-03 --reason "anniversary of the verdict: nothing scheduled"
    """
    app = api()
    if (first is None) != (last is None):
        raise UsageRefused("A window needs both ends: --from DATE and --to DATE.")
    if topic is not None and first is not None:
        raise UsageRefused("Hold a topic or a window, one at a time: run `campaign hold` once for each.")
    kind: Literal["campaign", "topic", "window"]
    if topic is not None:
        kind = "topic"
    elif first is not None:
        kind = "window"
    elif campaign is not None:
        kind = "campaign"
    else:
        raise UsageRefused(
            "Say what to hold: --campaign NAME, --topic TOPIC, or --from DATE --to DATE.",
            "To stop all posting, use `campaign pause`.",
        )
    window = (first, last) if first is not None and last is not None else None
    placed = app.place_hold(kind, reason=reason, actor=actor(), campaign=campaign, topic=topic, window=window)
    acted_on()
    zone = app.settings.timezone
    if not placed.created:
        click.secho(f"Already held: {_held(placed.hold, zone)}", fg="yellow")
        return
    click.secho(f"Held: {placed.hold.describe(zone)} (hold {placed.hold.id}).", fg="red", bold=True)
    posts = f"{placed.posts} post{'' if placed.posts == 1 else 's'}"
    click.echo(f"It covers {posts} still to go out: none is posted until `campaign release {placed.hold.id}`.")
    if placed.posts == 0 and kind == "topic":
        click.secho(f"No scheduled post carries the topic {placed.hold.topic} yet: any that does is held.", fg="yellow")
    for where in placed.in_flight:
        click.secho(f"{where} was being sent at that moment and cannot be called back: check the account.", fg="yellow")


@click.command("holds", cls=CampaignCommand)
@click.option("--all", "everything", is_flag=True, help="The released holds too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def holds(everything: bool, as_json: bool) -> None:
    """List the safeguarding holds standing now: what each covers, who placed it, why, since when.

    \b
    Examples:
      campaign holds
      campaign holds --all --json
    """
    app = api()
    found = app.holds(everything=everything)
    if as_json:
        click.echo(json.dumps([h.to_json() for h in found], indent=2, ensure_ascii=False))
        return
    zone = app.settings.timezone
    if not found:
        click.echo("No holds." if everything else "No holds stand: nothing is held back (but see `campaign status`).")
        return
    for item in found:
        line = _held(item, zone)
        if item.released_at is not None:
            click.echo(f"  {line} (released by {item.released_by} {local(item.released_at, zone)})")
        else:
            click.secho(f"  {line}", fg="red")


@click.command(cls=CampaignCommand)
@click.argument("hold_id", type=int)
@click.option(
    "--post-late/--leave-missed",
    "post_late",
    default=None,
    help="For every post whose time came during the hold: post it now, late, or leave it missed. Asked post by post "
    "when not given.",
)
@yes_option
def release(hold_id: int, post_late: bool | None, yes: bool) -> None:
    """Lift hold HOLD_ID. It lists every post whose time came while the hold stood and asks what to do with each:
    post it now, late, or leave it missed. Nothing held goes out late without that choice.

    \b
    Examples:
      campaign release 3
      campaign release 3 --leave-missed --yes
    """
    app = api()
    preview = app.release_preview(hold_id)
    zone = app.settings.timezone
    click.secho(f"Release {_held(preview.hold, zone)}", bold=True)
    choices = ask_choices(preview.passed, post_late, during="while it stood", nothing_done="Nothing was released")
    go_ahead(yes=yes)
    released = app.release_hold(hold_id, actor=actor(), choices=choices)
    acted_on()
    click.secho(f"Released hold {hold_id}: what it covered goes out at its time again.", fg="green")
    if released.posted_late:
        click.echo(f"Posted now, late: {', '.join(released.posted_late)}")
    if released.left_missed:
        click.echo(f"Left missed: {', '.join(released.left_missed)} (`campaign retry POST_ID` posts one late).")
    if released.still_held:
        click.secho(f"Still held by another hold: {', '.join(released.still_held)} (see `campaign holds`).",
                    fg="yellow")  # fmt: skip


def ask_choices(
    passed: Sequence[PassedPost], post_late: bool | None, *, during: str, nothing_done: str
) -> dict[str, Literal["post", "leave"]]:
    """Each post whose time came `during` ("while it stood", "while it was paused"): post it now, late, or leave it
    missed: every one from `post_late` when given, else asked post by post. Without a terminal to ask on and no
    flag, refused (`nothing_done` says what did not happen) before anything changes."""
    if not passed:
        click.echo(f"No post's time came {during}.")
        return {}
    click.echo(f"The time of {len(passed)} post{'' if len(passed) == 1 else 's'} came {during}:")
    for post in passed:
        platforms = ", ".join(post.platforms)
        click.echo(f'  {local(post.due_at, post.timezone)}  {post.key} ({platforms}) "{post.first_words}"')
        if post.still_held_by is not None:
            click.secho(f"    still held by hold {post.still_held_by}: nothing to decide yet", fg="yellow")
        else:
            click.echo("    missed (past its grace)" if post.missed else "    not posted yet")
    to_decide = [post for post in passed if post.still_held_by is None]
    if post_late is not None or not to_decide:
        return {post.key: "post" if post_late else "leave" for post in to_decide}
    if not stdin_is_terminal():
        raise UsageRefused(
            f"{nothing_done}: add --post-late (post the posts whose time came {during} now, late) or "
            "--leave-missed (leave them missed)."
        )
    choices: dict[str, Literal["post", "leave"]] = {}
    for post in to_decide:
        question = (
            f"  {post.key} ({'missed' if post.missed else 'not posted yet'}): post it now, late, or leave it missed?"
        )
        answer = click.prompt(question, type=click.Choice(["post", "leave"]))
        choices[post.key] = "post" if answer == "post" else "leave"
    return choices
