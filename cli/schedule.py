"""`campaign schedule` and `campaign status`: what is planned, and how it stands."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import click

from cli.common import CampaignCommand, acted_on, actor, api, claimed_name, dry_run_notice, identity_lines, local
from cli.review import schedule_notes
from scheduler.api import DEMO_LABEL, AuthorUnknown, Heartbeat, PostStatus, Refused, ScheduleOutcome, StatusReport

COUNT_WORDS = {"kept_cancelled": "kept cancelled"}
DRY_RUN = " (dry run: in the outbox, not posted)"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 or word.endswith("s") else f"{count} {word}s"


def _first_words(text: str, words: int = 8, characters: int = 60) -> str:
    kept = " ".join(text.split()[:words])[:characters]
    return kept + ("…" if kept != " ".join(text.split()) else "")


def _show_schedule(outcome: ScheduleOutcome, verbose: bool) -> None:
    report = outcome.report
    if verbose:
        for change in report.changes:
            if change.action in ("unchanged", "draft"):
                continue
            target = f"{change.platform} part {change.part}" if change.platform else ""
            click.echo(f"{change.action:>15}  {change.campaign}/{change.post_id} {target} {change.detail}".rstrip())
        summary = ", ".join(
            f"{report.count(a)} {a}"
            for a in ("added", "updated", "rescheduled", "cancelled", "unchanged")
            if report.count(a)
        )
        click.echo(f"Scheduled (parts): {summary or 'nothing to do'}.")
    if not outcome.campaigns:
        click.echo("Scheduled: nothing to do (the calendars have no posts).")
    for campaign in outcome.campaigns:
        counts = ", ".join(
            f"{n} {COUNT_WORDS.get(name, name)}" if name != "drafts" else _plural(n, "draft")
            for name, n in campaign.counts.items()
        )
        click.echo(f"{campaign.campaign}: {counts}")
        if not verbose:  # verbose listed these already, part by part
            notes: dict[tuple[str, str], list[str]] = defaultdict(list)
            for note in campaign.notes:
                notes[(note.post_id, note.detail)].append(f"{note.platform} part {note.part}")
            for (post_id, detail), where in notes.items():
                click.secho(f"  {post_id} ({', '.join(where)}): {detail}", fg="yellow")
        schedule_notes(outcome, campaign.campaign)
        post = campaign.next_post
        if post is None:
            click.echo("  next post: none, nothing left to post")
        else:
            click.echo(f"  next post: {local(post.at, post.timezone)}  {post.post_id}  “{_first_words(post.summary)}”")


@click.command(cls=CampaignCommand)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--verbose", "-v", is_flag=True, help="List every part of every post that changed.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (see docs/json.md).")
def schedule(paths: tuple[Path, ...], verbose: bool, as_json: bool) -> None:
    """Sync calendar files (or every calendar in a folder) into the schedule, in one transaction.

    New posts are added, changed unpublished posts updated, posts removed from a file cancelled, published
    posts never touched. Any validation error stops it before anything is written. Running it twice changes
    nothing. Prints, per campaign, how many posts were added, changed, left unchanged and cancelled, and the
    next post to go out.

    \b
    Examples:
      campaign schedule campaigns/act-on-iicsa/calendars/jan-mar-2027.yaml
      campaign schedule campaigns/sasvaw-week/calendars/
      campaign schedule campaigns/sasvaw-week/calendars/week-2027-day1.csv
    """
    app = api(create_store=True)
    try:
        outcome = app.schedule(paths, actor=actor())
    except AuthorUnknown as needed:  # who schedules posts that need approval must be known: say how
        raise Refused(needed.why, *identity_lines(*claimed_name())) from None
    if as_json:
        click.echo(json.dumps({**outcome.to_json(), "dry_run_platforms": app.settings.dry_run_platforms()}, indent=2,
                              ensure_ascii=False))  # fmt: skip
    else:
        for problem in outcome.warnings:
            click.secho(problem.format(), fg="yellow", err=True)
        _show_schedule(outcome, verbose)
    acted_on()
    dry_run_notice(app)


# --- status ----------------------------------------------------------------------------------------------


def _scheduler_line(beat: Heartbeat, zone: str) -> None:
    if beat.state == "running":
        click.echo(
            f"Scheduler: running since {local(beat.started_at, zone)}; "
            f"last checked the schedule {local(beat.last_check_at, zone)}"
        )
    elif beat.state == "stopped":
        click.secho(
            f"Scheduler: not running (last seen {local(beat.last_check_at, zone)}). Nothing is posted until it "
            "runs again: start it with `campaign run`.",
            fg="red",
            bold=True,
        )
    else:
        click.secho(
            "Scheduler: never started. Nothing is posted until it runs: start it with `campaign run`.",
            fg="yellow",
            bold=True,
        )


def _attempts(count: int) -> str:
    return _plural(count, "attempt")


def _post_details(post: PostStatus) -> str:
    """A post's platforms on one line: together when they stand alike, else each with its own state."""
    states = {p.status for p in post.platforms}
    if not post.platforms:
        return "not posted: a draft in the calendar" if post.status == "draft" else ""
    if len(states) == 1 and post.status in ("scheduled", "awaiting approval", "posting now", "cancelled", "draft"):
        most = max(p.parts for p in post.platforms)
        text = ", ".join(p.platform for p in post.platforms) + (f" ({most} parts)" if most > 1 else "")
        reason = post.platforms[0].reason
        return text + (f": {reason}" if post.status == "cancelled" and reason else "")
    said: dict[str, list[str]] = {}  # what is said of a platform -> the platforms it is said of
    links = []
    published = [p for p in post.platforms if p.status == "published"]
    all_dry = all(p.dry_run for p in published)
    for p in post.platforms:
        reason = p.reason or "no reason recorded"
        if p.status == "published":
            out = f" ({p.published_parts} of {p.parts} parts out)" if p.published_parts < p.parts else ""
            dry = DRY_RUN if p.dry_run and not all_dry else ""
            links.append(f"{p.platform} {p.url or '(no link)'}{out}{dry}")
            continue
        if p.status == "trying again":
            next_try = local(p.next_attempt_at, post.timezone) if p.next_attempt_at else "soon"
            words = f"trying again ({_attempts(p.attempts)} so far), next try {next_try}: {reason}"
        elif p.status == "failed":
            words = f"failed after {_attempts(p.attempts)}: {reason}"
        elif p.status in ("missed", "cancelled"):
            words = f"{p.status}: {reason}"
        else:
            words = p.status
        said.setdefault(words, []).append(p.platform)
    pieces = [f"{', '.join(platforms)}: {words}" for words, platforms in said.items()]
    if links:
        pieces.append(", ".join(links) + (DRY_RUN if all_dry else ""))
    return "; ".join(pieces)


def _post_lines(post: PostStatus, parts: bool) -> None:
    if not parts:
        click.echo(f"  {local(post.at, post.timezone)}  {post.status}  {post.campaign}/{post.post_id}  "
                   f"{_post_details(post)}".rstrip())  # fmt: skip
        return
    for v in post.parts:
        when: datetime = v.published_at if v.status == "published" and v.published_at else v.due_at
        detail = ""
        if v.status == "published":
            detail = (v.url or "(no link)") + (DRY_RUN if v.dry_run else "")
        elif v.status == "trying again":
            next_try = local(v.next_attempt_at, v.timezone) if v.next_attempt_at else "soon"
            detail = f"{_attempts(v.attempts)} so far, next try {next_try}: {v.reason or ''}"
        elif v.status in ("failed", "missed", "cancelled"):
            detail = (f"after {_attempts(v.attempts)}: " if v.status == "failed" else "") + (v.reason or "")
        click.echo(f"  {local(when, v.timezone)}  {v.status}  {v.campaign}/{v.post_id} {v.platform} part {v.part}  "
                   f"{detail}".rstrip())  # fmt: skip


SECTIONS = (
    ("Missed (not posted; `campaign retry POST_ID` posts it now)", ("missed",), "red"),
    ("Failed (`campaign retry POST_ID` after fixing the cause)", ("failed",), "red"),
    ("Trying again (by itself: nothing to do unless it keeps failing)", ("trying again",), "yellow"),
    ("Posting now", ("posting now",), "yellow"),
    ("Awaiting approval (`campaign review` shows them, `campaign approve POST_ID`)", ("awaiting approval",), "yellow"),
    ("Upcoming", ("scheduled", "draft", "cancelled"), None),
    ("Recently published", ("published",), "green"),
)


def _show_status(report: StatusReport, *, parts: bool) -> None:
    if report.demo:
        click.secho(f"{DEMO_LABEL} (made by `campaign demo`: no post here reached any platform)", fg="magenta",
                    bold=True)  # fmt: skip
    _scheduler_line(report.scheduler, report.timezone)
    if report.pause is not None:
        pause = report.pause
        by = f" by {pause.by}" if pause.by else ""
        since = f" since {local(pause.since, report.timezone)}" if pause.since else ""
        click.secho(f"PAUSED: {pause.reason or 'no reason given'} (paused{by}{since}; `campaign resume` to continue)",
                    fg="red", bold=True)  # fmt: skip
    for hold in report.holds:  # safeguarding holds: what each keeps back, who set it, why, since when
        click.secho(f"HELD: {hold.describe(report.timezone)} (hold {hold.id}, by {hold.actor} since "
                    f"{local(hold.created_at, report.timezone)}: {hold.reason}; `campaign release {hold.id}` lifts it)",
                    fg="red", bold=True)  # fmt: skip
    counts = ", ".join(f"{n} {state}" for state, n in report.post_counts.items()) or "nothing scheduled yet"
    click.echo(f"Posts: {counts}")
    for title, states, colour in SECTIONS:
        posts = report.posts_in(*states)
        if not posts:
            continue
        click.secho(f"\n{title}", bold=True, fg=colour)
        for post in posts:
            _post_lines(post, parts)
    if report.failing_collectors:
        click.secho("\nCollectors failing (posting is not affected)", bold=True, fg="yellow")
        for c in report.failing_collectors:
            where = f" {c.source}" if c.source else ""
            click.echo(
                f"  {c.campaign} {c.kind} {c.platform}{where}: {c.consecutive_failures} failure(s), "
                f"next try {local(c.next_attempt_at, report.timezone)}: {c.last_error or ''}".rstrip()
            )
    if report.listening:
        click.secho("\nListening to Bluesky as it happens (campaign listen)", bold=True)
        for view in report.listening:
            click.echo(f"  {view.describe()}")
    if report.latest_report:
        click.echo(f"\nLatest weekly report: {report.latest_report}")


@click.command(cls=CampaignCommand)
@click.option("--campaign", help="Only this campaign (its folder name).")
@click.option("--parts", is_flag=True, help="One line per part and platform instead of one per post.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (see docs/json.md).")
@click.option("--limit", default=20, show_default=True, help="How many upcoming and published posts to list.")
def status(campaign: str | None, parts: bool, as_json: bool, limit: int) -> None:
    """Whether the scheduler is running and posting is paused; then every post that needs attention, is being
    posted, comes next or went out last, one line each, with the reason and next try of anything not well and
    the links to what was published.

    \b
    Examples:
      campaign status
      campaign status --campaign sasvaw-week --limit 50
      campaign status --json
    """
    app = api()
    report = app.status(campaign=campaign, limit=limit)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return
    acted_on()
    _show_status(report, parts=parts)
    dry_run_notice(app)
