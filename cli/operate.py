"""The operator's commands: pause and resume, cancel, restore, retry, post now. The four that act on one post
show exactly what they will do (from the application's own preview) and ask before doing it."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Literal

import click

from cli.common import (
    CampaignCommand,
    acted_on,
    actor,
    api,
    dry_run_notice,
    go_ahead,
    local,
    stdin_is_terminal,
    yes_option,
)
from cli.holds import ask_choices
from scheduler.api import PLATFORMS, PartPreview, PostPreview, UsageRefused

campaign_option = click.option(
    "--campaign", help="The campaign (its folder name), when the same post id is in several."
)
VERBS = {"cancel": "Cancel", "retry": "Post late", "post-now": "Post now", "restore": "Restore"}


def _file(source: str) -> str:
    path = Path(source)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return source


def _part_name(platform: str, part: int) -> str:
    return platform + (f" part {part}" if part else "")


def _parts_name(platform: str, parts: list[int]) -> str:
    if len(parts) == 1:
        return _part_name(platform, parts[0])
    if parts[0] == 0:
        return f"{platform}, the post and its {len(parts) - 1} thread replies"
    return f"{platform}, thread parts {parts[0]} to {parts[-1]}"


def _stands(part: PartPreview, preview: PostPreview) -> str:
    zone = preview.timezone
    when = "" if part.due_at == preview.planned_at else f" for {local(part.due_at, zone)}"
    if part.state == "published":
        return f"published {local(part.published_at, zone)}" + (f" ({part.url})" if part.url else "")
    if part.state == "scheduled":
        return f"scheduled{when}"
    if part.state in ("claimed", "publishing"):
        return "posting now"
    return part.state + (f" (it was due{when})" if when else "")


def show(preview: PostPreview) -> None:
    """The post, and part by part how it stands and what the command will do to it (a platform's parts that
    stand and change alike on one line)."""
    click.secho(
        f"{VERBS[preview.action]}: post {preview.post_id} of {preview.campaign}, from {_file(preview.source)}",
        bold=True,
    )
    click.echo(f'  "{preview.first_words}"')
    click.echo(f"  Planned for {local(preview.planned_at, preview.timezone)}")
    groups: list[tuple[tuple[str, str, str, bool, bool], list[int]]] = []
    for part in preview.parts:
        key = (part.platform, _stands(part, preview), part.effect, part.changes, part.maybe_live and part.changes)
        if groups and groups[-1][0] == key and part.state != "published":
            groups[-1][1].append(part.part)
        else:
            groups.append((key, [part.part]))
    for (platform, stands, effect, changes, maybe_live), parts in groups:
        click.secho(f"  {_parts_name(platform, parts)}: {stands} -> {effect}", fg="yellow" if changes else None)
        if maybe_live:
            click.secho(
                "    Its last attempt ended with an unknown outcome, so it may be live already: check the account.",
                fg="yellow",
            )
    if preview.paused:
        click.secho("Posting is paused: nothing goes out until `campaign resume`.", fg="red")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@click.command(cls=CampaignCommand)
@click.option("--reason", required=True, help="Why posting is paused (kept in the events log).")
@click.option("--wait", default=120, show_default=True, help="Seconds to wait for posts already being sent.")
def pause(reason: str, wait: int) -> None:
    """Stop all posting now. When this returns, nothing more goes out until `campaign resume`.

    Use it when news breaks and scheduled content could hurt. Posts that fall due while paused are held, and
    become missed after their grace period; `campaign resume` asks, post by post, whether to post each now, late,
    or leave it missed.

    \b
    Examples:
      campaign pause --reason "news about the inquiry: holding posts until we have read it"
      campaign pause --reason "breaking news" --wait 300
    """
    still = api().pause(reason=reason, actor=actor(), wait=timedelta(seconds=wait))
    acted_on()
    if still:
        click.secho(f"Paused, but {still} post(s) were still being sent after {wait} s.", fg="yellow")
        sys.exit(1)
    click.secho("Paused. Nothing more will be posted until `campaign resume`.", fg="red", bold=True)


@click.command(cls=CampaignCommand)
@click.option(
    "--post-late/--leave-missed",
    "post_late",
    default=None,
    help="For every post whose time came while paused: post it now, late, or leave it missed. Asked post by post "
    "when not given.",
)
@yes_option
def resume(post_late: bool | None, yes: bool) -> None:
    """Resume posting after `campaign pause`. It tells who paused, when and why, then lists every post whose time
    came while paused and asks what to do with each: post it now, late, or leave it missed. Nothing held back goes
    out late without that choice; until every one has it, posting stays paused.

    \b
    Examples:
      campaign resume
      campaign resume --leave-missed --yes
    """
    app = api()
    preview = app.resume_preview()
    if not preview.paused:
        acted_on()
        click.secho("Posting was not paused; nothing changed.", fg="green")
        return
    zone = app.settings.timezone
    since = f" on {local(preview.paused_at, zone)}" if preview.paused_at else ""
    by = f" by {preview.paused_by}" if preview.paused_by else ""
    click.secho(f"Posting was paused{by}{since}: {preview.reason or 'no reason given'}.", bold=True)
    choices = ask_choices(
        preview.passed, post_late, during="while it was paused", nothing_done="Nothing changed, posting is still paused"
    )
    if choices:
        go_ahead(yes=yes)
    resumed = app.resume(actor=actor(), choices=choices)
    acted_on()
    if not resumed.paused:  # someone else resumed meanwhile
        click.secho("Posting was no longer paused; nothing changed.", fg="green")
        return
    click.secho("Resumed: scheduled posts go out at their time again.", fg="green")
    if resumed.posted_late:
        click.echo(f"Posted now, late: {', '.join(resumed.posted_late)}")
    if resumed.left_missed:
        click.echo(f"Left missed: {', '.join(resumed.left_missed)} (`campaign retry POST_ID` posts one late).")
    if resumed.still_held:
        click.secho(f"Still held by a hold: {', '.join(resumed.still_held)} (see `campaign holds`).", fg="yellow")


@click.command(cls=CampaignCommand)
@click.argument("post_id")
@campaign_option
@yes_option
def cancel(post_id: str, campaign: str | None, yes: bool) -> None:
    """Cancel every part of POST_ID not yet published, on every platform (published ones are never touched).

    It shows what will happen and asks first. A part being published at this moment cannot be called back: it
    ends cancelled if that attempt fails, and the thread parts after it are cancelled now. `campaign restore`
    undoes a cancel; `campaign schedule` leaves a cancelled post cancelled until it changes in its file.

    \b
    Examples:
      campaign cancel recs-mandatory-reporting
      campaign cancel d4-helplines --campaign sasvaw-week --yes
    """
    app = api()
    preview = app.describe_post(post_id, "cancel", campaign=campaign)
    show(preview)
    go_ahead(yes=yes)
    result = app.cancel(post_id, actor=actor(), campaign=preview.campaign)
    acted_on()
    click.echo(f"Cancelled {post_id}: {_count(len(result.cancelled), 'part')} will not be posted.")
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
    click.echo(f"To undo: campaign restore {post_id}")


@click.command(cls=CampaignCommand)
@click.argument("post_id")
@campaign_option
@click.option("--platform", type=click.Choice(PLATFORMS), help="Only this platform's parts (default: every one).")
@click.option(
    "--post-late/--leave-missed",
    "post_late",
    default=None,
    help="When its time is past its grace period: post it now, late, or leave it missed. Asked when not given.",
)
@click.option("--reason", default="", help="Why it is restored (kept in the events log with your name).")
@yes_option
def restore(
    post_id: str, campaign: str | None, platform: str | None, post_late: bool | None, reason: str, yes: bool
) -> None:
    """Undo `campaign cancel`: POST_ID's cancelled parts go back to scheduled at their time.

    It shows what will happen and asks first. When the time has passed its grace period, it says so and asks
    whether to post it now, late, or leave it missed: it never posts late unasked. The restore is kept in the
    events log with who did it and why. `campaign schedule` then leaves the post as restored.

    \b
    Examples:
      campaign restore recs-mandatory-reporting
      campaign restore d4-helplines --platform bluesky --reason "cancelled by mistake"
      campaign restore launch-2027 --leave-missed --yes
    """
    app = api()
    preview = app.describe_post(post_id, "restore", campaign=campaign, platform=platform)
    show(preview)
    late: Literal["post", "leave"] | None = None
    if preview.late:
        late = _late_choice(preview, post_late)
    go_ahead(yes=yes)
    result = app.restore(post_id, actor=actor(), reason=reason, campaign=preview.campaign, platform=platform, late=late)
    acted_on()
    if result.scheduled:
        click.echo(f"Restored {post_id}: {_on(result.scheduled)} back to scheduled.")
    if result.posted_late:
        click.echo(f"Restored {post_id}: {_on(result.posted_late)} go out now, late.")
    if result.left_missed:
        click.echo(f"Restored {post_id}: {_on(result.left_missed)} left missed (`campaign retry {post_id}` posts it).")
    for where in result.in_flight:
        click.echo(f"{post_id} {where} is being published right now: it is no longer cancelled if that attempt fails.")


def _on(parts: list[str]) -> str:
    """How many parts on which platforms, e.g. `3 parts on bluesky`."""
    platforms = sorted({where.split(" ", 1)[0] for where in parts})
    return f"{_count(len(parts), 'part')} on {' and '.join(platforms)}"


def _late_choice(preview: PostPreview, post_late: bool | None) -> Literal["post", "leave"]:
    first = preview.late[0]
    grace = int(preview.misfire_grace.total_seconds() // 60)
    click.secho(
        f"Its time ({local(first.due_at, preview.timezone)}) is more than {grace} min ago, past its grace period: "
        f"restored now, it would go out late.",
        fg="yellow",
    )
    if post_late is not None:
        return "post" if post_late else "leave"
    if not stdin_is_terminal():
        raise UsageRefused(
            "Nothing was done: say whether to post it now, late, or leave it missed.",
            "Add --post-late or --leave-missed.",
        )
    answer = click.prompt("Post it now, late, or leave it missed?", type=click.Choice(["post", "leave"]))
    return "post" if answer == "post" else "leave"


@click.command(cls=CampaignCommand)
@click.argument("post_id")
@campaign_option
@click.option("--platform", type=click.Choice(PLATFORMS), help="Only this platform's parts (default: every one).")
@yes_option
def retry(post_id: str, campaign: str | None, platform: str | None, yes: bool) -> None:
    """Post POST_ID's missed or failed parts now: an explicit decision to post late.

    It shows what will happen and asks first. A part whose last attempt ended with an unknown outcome is looked
    for on the platform first and posted only if it is not there.

    \b
    Examples:
      campaign retry launch-2027
      campaign retry d4-helplines --platform mastodon --yes
    """
    app = api()
    preview = app.describe_post(post_id, "retry", campaign=campaign, platform=platform)
    show(preview)
    go_ahead(yes=yes)
    rearmed = app.retry(post_id, actor=actor(), campaign=preview.campaign, platform=platform)
    acted_on()
    platforms = ", ".join(sorted({p.platform for p in preview.changing}))
    click.echo(
        f"{post_id}: {_count(len(rearmed), 'part')} on {platforms} go out late, at the scheduler's next check "
        f"(within seconds while `campaign run` is running)."
    )


@click.command("post-now", cls=CampaignCommand)
@click.argument("post_id")
@click.option("--platform", required=True, type=click.Choice(PLATFORMS), help="Where to post it.")
@campaign_option
@yes_option
def post_now(post_id: str, platform: str, campaign: str | None, yes: bool) -> None:
    """Publish POST_ID (and its thread) to one platform now, through the same path as a scheduled post.

    It shows what will happen and asks first. It uses the same key as the scheduler, so a second call finds it
    published and posts nothing: it is never posted twice. A missed or failed part is posted late; a cancelled
    one is not (`campaign restore` it first).

    \b
    Examples:
      campaign post-now support-lines-january --platform bluesky
      campaign post-now d4-helplines --platform mastodon --campaign sasvaw-week --yes
    """
    app = api()
    preview = app.describe_post(post_id, "post-now", campaign=campaign, platform=platform)
    show(preview)
    if preview.changing:
        go_ahead(yes=yes)
    outcomes = app.post_now(post_id, platform, actor=f"post-now@{actor()}", campaign=preview.campaign)
    acted_on()
    names = {p.id: _part_name(p.platform, p.part) for p in preview.parts}
    failed = False
    for outcome in outcomes:
        colour = {"published": "green", "skipped": None, "failed": "red"}.get(outcome.result, "yellow")
        where = names.get(outcome.delivery_id, platform)
        click.secho(f"{outcome.result}: {post_id} {where} {outcome.detail}".rstrip(), fg=colour)
        failed = failed or outcome.result in ("failed", "retry", "held")
    dry_run_notice(app)
    if failed:
        sys.exit(1)
