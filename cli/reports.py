"""`campaign report weekly` and `campaign collect`: thin faces over the application API."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from cli.common import CampaignCommand, CampaignGroup, actor, api
from scheduler.api import PLATFORMS, CollectorOutcome, Refused, ReportFormats


@click.group("report", cls=CampaignGroup)
def report() -> None:
    """Reports made from the store alone (no platform is asked anything).

    \b
    Examples:
      campaign report weekly --campaign act-on-iicsa --week 2027-W05
    """


@report.command("weekly")
@click.option("--campaign", help="Only this campaign (its folder name). Default: every campaign in the store.")
@click.option(
    "--week",
    help="The week: 2027-W05 (Monday to Sunday), a date such as 2027-02-01 (the week holding it), or last. "
    "Default: last (the last full week).",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(ReportFormats),
    multiple=True,
    help="html (one self-contained file), md (to paste into an email), csv (for a spreadsheet) or pdf (A4, to "
    "forward: printed by Chromium); repeat for several. Default: html, md and csv.",
)
@click.option(
    "-o", "--output", type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into. Default: the reports folder (CAMPAIGN_REPORTS_DIR)/<campaign>.",
)  # fmt: skip
@click.option(
    "--include-handles",
    is_flag=True,
    help="Name the accounts the store holds handles for, not only the campaign's organisation accounts "
    "(handles are kept only when campaign.yaml says `reports: {keep_handles: true}` or by "
    "`campaign collect --keep-handles`).",
)
@click.option("--json", "as_json", is_flag=True, help="List the files written as JSON (see docs/json.md).")
def weekly(
    campaign: str | None,
    week: str | None,
    formats: tuple[str, ...],
    output: Path | None,
    include_handles: bool,
    as_json: bool,
) -> None:
    """Write the weekly report: a summary in plain English first, then what people did with each post, the
    hashtag, what went out and what went wrong, and the change on the week before.

    A week that has not begun, or that holds no data, is said so and nothing is written.
    Private by default: other people's accounts appear only as counts.

    \b
    Examples:
      campaign report weekly
      campaign report weekly --campaign sasvaw-week --week 2027-W05 --format html -o reports/
      campaign report weekly --week 2027-02-03 --format pdf
    """
    app = api()
    chosen_week = app.report_week(week)
    campaigns = app.report_campaigns(campaign)
    if not campaigns:
        raise Refused(
            "The store has no campaigns yet: schedule a calendar (`campaign schedule PATH`) "
            "or name one with --campaign."
        )
    written: list[dict[str, Any]] = []
    refused: list[str] = []
    for slug in campaigns:
        try:
            paths = app.weekly_report(
                slug, chosen_week, output=output, formats=formats or None, include_handles=include_handles
            )
        except Refused as error:  # this campaign's report only: the others are still written
            refused += error.lines
            click.echo("\n".join(error.lines), err=True)
            continue
        written.append({"campaign": slug, "week": chosen_week.label, "files": [str(path) for path in paths]})
        if not as_json:
            click.echo(f"{slug} {chosen_week.label}:")
            for path in paths:
                click.echo(f"  {path}")
    if as_json:
        click.echo(json.dumps({"week": chosen_week.label, "include_handles": include_handles, "reports": written,
                               "not_written": refused}, indent=2, ensure_ascii=False))  # fmt: skip
    if include_handles and written:
        click.secho("These reports name accounts (--include-handles): share them with care.", fg="yellow", err=True)
    if refused:
        sys.exit(1)


@report.command("campaign")
@click.option("--campaign", help="Only this campaign (its folder name). Default: every campaign in the store.")
@click.option("--from", "start", help="From the week holding this date (2027-02-01) or week (2027-W05). "
              "Default: the campaign's first week.")  # fmt: skip
@click.option("--to", "end", help="To the week holding this date or week, or last. Default: the last full week.")
@click.option("--format", "formats", type=click.Choice(ReportFormats), multiple=True,
              help="html, md, csv or pdf; repeat for several. Default: html, md and csv.")  # fmt: skip
@click.option(
    "-o", "--output", type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into. Default: the reports folder (CAMPAIGN_REPORTS_DIR)/<campaign>.",
)  # fmt: skip
def campaign_report(
    campaign: str | None, start: str | None, end: str | None, formats: tuple[str, ...], output: Path | None
) -> None:
    """Write the campaign to date: every week of the range side by side (posts, on time, engagement gained,
    hashtag mentions, accounts and new accounts), its totals and the best posts of the whole range.

    \b
    Examples:
      campaign report campaign --campaign sasvaw-week
      campaign report campaign --campaign sasvaw-week --from 2027-01-25 --to 2027-02-14 --format pdf
    """
    app = api()
    campaigns = app.report_campaigns(campaign)
    if not campaigns:
        raise Refused("The store has no campaigns yet: schedule a calendar (`campaign schedule PATH`).")
    refused = False
    for slug in campaigns:
        try:
            paths = app.campaign_report(slug, start=start, end=end, output=output, formats=formats or None)
        except Refused as error:
            refused = True
            click.echo("\n".join(error.lines), err=True)
            continue
        click.echo(f"{slug}:")
        for path in paths:
            click.echo(f"  {path}")
    if refused:
        sys.exit(1)


def _parse_since(text: str | None, zone: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"`{text}` is not a date: write 2027-02-01 or 2027-02-01T09:00 ({zone} unless it says)",
            param_hint="--since",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


@click.command("collect", cls=CampaignCommand)
@click.option("--campaign", help="Only this campaign (its folder name). Default: every campaign folder.")
@click.option(
    "--since",
    help="Backfill mentions from this date (e.g. 2027-02-01), or from where regular collection stopped if that "
    "is earlier: nothing in between is skipped.",
)
@click.option("--platform", "platforms", type=click.Choice(PLATFORMS), multiple=True,
              help="Only this platform (repeatable). Default: both.")  # fmt: skip
@click.option("--mentions/--no-mentions", default=True, show_default=True, help="Collect hashtag mentions.")
@click.option("--engagement/--no-engagement", default=True, show_default=True,
              help="Snapshot our posts' engagement where due.")  # fmt: skip
@click.option(
    "--keep-handles",
    is_flag=True,
    help="Also keep other accounts' handles (never their text), so `report weekly --include-handles` can name "
    "them; mentions stored earlier without one gain it. Off by default: only organisation accounts' handles are "
    "kept. For beat's regular collection, set `reports: {keep_handles: true}` in campaign.yaml.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output, without the progress bar "
              "(see docs/json.md).")  # fmt: skip
def collect(
    campaign: str | None,
    since: str | None,
    platforms: tuple[str, ...],
    mentions: bool,
    engagement: bool,
    keep_handles: bool,
    as_json: bool,
) -> None:
    """Collect now: hashtag mentions (Bluesky search, Mastodon hashtag timelines of the watched instances) and
    engagement snapshots of our published posts, with progress. Without a Mastodon account, the public hashtag
    timelines of the instances campaign.yaml lists (mastodon_instances) are still read; a platform without
    credentials is otherwise skipped.

    \b
    Examples:
      campaign collect
      campaign collect --campaign act-on-iicsa --since 2027-02-01 --platform bluesky
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    app = api()
    since_at = _parse_since(since, app.settings.timezone)
    chosen = list(platforms or PLATFORMS)
    for notice in app.collection_notices(chosen, campaign=campaign):
        click.secho(notice, fg="yellow", err=True)
    columns = (
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=False, disable=as_json) as progress:
        task = progress.add_task("collecting", total=None)

        def step(description: str, done: int, total: int) -> None:
            progress.update(task, description=description, completed=done, total=total)

        def show(outcome: CollectorOutcome) -> None:
            progress.update(task, description=f"{outcome.key.describe()}: {outcome.pages} page(s), "
                                              f"{outcome.result.stored} new")  # fmt: skip

        outcomes = app.collect_now(
            actor=f"cli@{actor()}", campaign=campaign, platforms=chosen, since=since_at, mentions=mentions,
            engagement=engagement, keep_handles=keep_handles, on_step=step, progress=show,
        )  # fmt: skip
    failed = any(outcome.outcome in ("failed", "rate_limited") for outcome in outcomes)
    if as_json:
        shown = {"ok": not failed, "outcomes": [_outcome_json(outcome) for outcome in outcomes]}
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
    for outcome in outcomes if not as_json else ():
        colour = {"ok": "green", "skipped": "yellow", "busy": "yellow"}.get(outcome.outcome, "red")
        click.secho(outcome.describe(), fg=colour)
    if not outcomes and not as_json:
        click.echo("Nothing to collect: no campaign folders and no published posts.")
    if failed:
        sys.exit(1)


def _outcome_json(outcome: CollectorOutcome) -> dict[str, Any]:
    """One collector's run as `collect --json` shows it (docs/json.md)."""
    key, result = outcome.key, outcome.result
    return {
        "campaign": key.campaign,
        "kind": key.kind,
        "platform": key.platform,
        "source": key.source or None,
        "outcome": outcome.outcome,
        "detail": outcome.detail or None,
        "pages": outcome.pages,
        "fetched": result.fetched,
        "stored": result.stored,
        "duplicates": result.duplicates,
        "ignored": result.ignored,
        "snapshots": outcome.snapshots,
        "retry_at": outcome.retry_at.isoformat() if outcome.retry_at else None,
        "description": outcome.describe(),
    }
