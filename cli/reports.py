"""`campaign report weekly` and `campaign collect`: thin faces over scheduler.reports and scheduler.collecting.

Registered in cli/main.py with `main.add_command(report)` and `main.add_command(collect)`."""

from __future__ import annotations

import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from scheduler.settings import Settings, load_settings

PLATFORM_CHOICES = ("bluesky", "mastodon")


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    from scheduler.db import Store

    return Store(settings.database_url)


@click.group("report")
def report() -> None:
    """Reports made from the store alone (no platform is asked anything)."""


@report.command("weekly")
@click.option("--campaign", help="Only this campaign (its folder name). Default: every campaign in the store.")
@click.option("--week", help="ISO week, e.g. 2027-W05 (Monday to Sunday). Default: the last full week.")
@click.option(
    "--format",
    "formats",
    type=click.Choice(["html", "md", "csv"]),
    multiple=True,
    help="html (one self-contained file), md (to paste into an email) or csv (for a spreadsheet); "
    "repeat for several. Default: all three.",
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
def weekly(
    campaign: str | None, week: str | None, formats: tuple[str, ...], output: Path | None, include_handles: bool
) -> None:
    """Write the weekly report: deliveries on time, late, missed and failed; our posts' engagement and its
    growth; top posts; mentions per day per platform; new and returning accounts; change on the week before.

    Private by default: other people's accounts appear only as counts."""
    from scheduler.collection import campaigns_in_store
    from scheduler.reports import FORMATS, IsoWeek, weekly_report_for, write_report

    settings = load_settings()
    store = _store(settings)
    try:
        chosen_week = IsoWeek.parse(week) if week else IsoWeek.last_complete(datetime.now(UTC))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--week") from None
    campaigns = [campaign] if campaign else campaigns_in_store(store)
    if not campaigns:
        raise click.ClickException(
            "The store has no campaigns yet: schedule a calendar (`campaign schedule PATH`) "
            "or name one with --campaign."
        )
    for slug in campaigns:
        weekly_report = weekly_report_for(
            store, slug, chosen_week, campaigns_dir=settings.campaigns_dir, include_handles=include_handles
        )
        target = output or settings.reports_dir / slug
        paths = write_report(weekly_report, target, formats or FORMATS)
        click.echo(f"{slug} {chosen_week.label}:")
        for path in paths:
            click.echo(f"  {path}")
    if include_handles:
        click.secho("These reports name accounts (--include-handles): share them with care.", fg="yellow", err=True)


def _parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"`{text}` is not a date: write 2027-02-01 or 2027-02-01T09:00 (Europe/London unless it says)",
            param_hint="--since",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("Europe/London"))
    return moment.astimezone(UTC)


@click.command("collect")
@click.option("--campaign", help="Only this campaign (its folder name). Default: every campaign folder.")
@click.option(
    "--since",
    help="Backfill mentions from this date (e.g. 2027-02-01), or from where regular collection stopped if that "
    "is earlier: nothing in between is skipped.",
)
@click.option("--platform", "platforms", type=click.Choice(PLATFORM_CHOICES), multiple=True,
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
def collect(
    campaign: str | None,
    since: str | None,
    platforms: tuple[str, ...],
    mentions: bool,
    engagement: bool,
    keep_handles: bool,
) -> None:
    """Collect now: hashtag mentions (Bluesky search, Mastodon hashtag timelines of the watched instances) and
    engagement snapshots of our published posts, with progress. A platform without credentials is skipped."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from content_calendar.model import CalendarError
    from scheduler.clock import SystemClock
    from scheduler.collecting import (
        NO_CREDENTIALS,
        CollectorOutcome,
        SettingsAdapters,
        campaigns_to_collect,
        collect_engagement,
        collect_mentions,
        engagement_campaigns,
    )
    from scheduler.publishing import Redactor

    settings = load_settings()
    store = _store(settings)
    since_at = _parse_since(since)
    chosen = list(platforms or PLATFORM_CHOICES)
    for platform in chosen:
        configured = settings.bluesky_configured if platform == "bluesky" else settings.mastodon_configured
        if not configured:
            click.secho(f"{NO_CREDENTIALS[platform]}: its collectors are skipped.", fg="yellow", err=True)
    try:
        campaigns = campaigns_to_collect(settings.campaigns_dir, campaign) if mentions else []
    except CalendarError as error:
        raise click.ClickException(f"Cannot read campaign {campaign}: {error}") from None
    engagement_slugs = engagement_campaigns(store, campaign) if engagement else []
    adapters = SettingsAdapters(settings)
    clock = SystemClock()
    owner = f"cli@{socket.gethostname()}:{os.getpid()}"
    redact = Redactor([settings.bluesky_app_password.reveal(), settings.mastodon_access_token.reveal()])
    outcomes: list[CollectorOutcome] = []
    console = Console(stderr=True)
    columns = (
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        total = len(campaigns) * len(chosen) + len(engagement_slugs) * len(chosen)
        task = progress.add_task("collecting", total=total)

        def show(outcome: CollectorOutcome) -> None:
            progress.update(task, description=f"{outcome.key.describe()}: {outcome.pages} page(s), "
                                              f"{outcome.result.stored} new")  # fmt: skip

        for item in campaigns:
            for platform in chosen:
                progress.update(task, description=f"{item.slug} {platform}: mentions")
                outcomes += collect_mentions(
                    store, item, platform, adapters, clock=clock, owner=owner, since=since_at, force=True,
                    keep_handles=keep_handles, redact=redact, progress=show, actor=owner,
                )  # fmt: skip
                progress.advance(task)
        for slug in engagement_slugs:
            for platform in chosen:
                progress.update(task, description=f"{slug} {platform}: engagement")
                outcomes.append(
                    collect_engagement(
                        store,
                        slug,
                        platform,
                        adapters,
                        clock=clock,
                        owner=owner,
                        force=True,
                        redact=redact,
                        actor=owner,
                    )
                )
                progress.advance(task)
    failed = False
    for outcome in outcomes:
        colour = {"ok": "green", "skipped": "yellow", "busy": "yellow"}.get(outcome.outcome, "red")
        failed |= outcome.outcome in ("failed", "rate_limited")
        click.secho(outcome.describe(), fg=colour)
    if not outcomes:
        click.echo("Nothing to collect: no campaign folders and no published posts.")
    if failed:
        sys.exit(1)
