"""`campaign schedule` and `campaign status`: what is planned, and how it stands."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.common import CampaignCommand, actor, api, dry_run_notice, local
from scheduler.api import StatusReport


@click.command(cls=CampaignCommand)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def schedule(paths: tuple[Path, ...]) -> None:
    """Sync calendar files (or every calendar in a folder) into the schedule, in one transaction.

    New posts are added, changed unpublished posts updated, posts removed from a file cancelled, published
    posts never touched. Any validation error stops it before anything is written. Running it twice changes
    nothing.
    """
    app = api()
    scheduled = app.schedule(paths, actor=actor())
    for problem in scheduled.warnings:
        click.secho(problem.format(), fg="yellow", err=True)
    report = scheduled.report
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
    click.echo(f"Scheduled: {summary or 'nothing to do'}.")
    dry_run_notice(app)


def _show_status(report: StatusReport) -> None:
    if report.paused:
        click.secho(
            f"PAUSED: {report.pause_reason or 'no reason given'} (`campaign resume` to continue)", fg="red", bold=True
        )
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report.counts.items())) or "nothing scheduled yet"
    click.echo(f"Deliveries: {counts}")

    def section(title: str, name: str, colour: str | None) -> None:
        items = getattr(report, name)
        if not items:
            return
        click.secho(f"\n{title}", bold=True, fg=colour)
        for v in items:
            where = f"{v.campaign}/{v.post_id} {v.platform}" + (f" part {v.part}" if v.part else "")
            if name == "published":
                extra = ("(dry run) " if v.dry_run else "") + (v.url or "")
                when = v.published_at
            elif name in ("failed", "missed"):
                extra, when = v.last_error or "", v.due_at
            elif v.attempts and v.last_error:  # waiting to try again after a failure: say why and when
                next_try = local(v.next_attempt_at, v.timezone) if v.next_attempt_at else "soon"
                extra, when = (
                    f"trying again ({v.attempts} attempts so far), next try {next_try}: {v.last_error}",
                    v.due_at,
                )
            else:
                extra, when = "", v.due_at
            click.echo(f"  {local(when, v.timezone)}  {where}  {extra}".rstrip())

    section("Missed (not posted; `campaign retry POST_ID` posts them now)", "missed", "red")
    section("Failed (`campaign retry POST_ID` after fixing the cause)", "failed", "red")
    section("In flight", "in_flight", "yellow")
    section("Upcoming", "upcoming", None)
    section("Recently published", "published", "green")
    if report.failing_collectors:
        click.secho("\nCollectors failing (posting is not affected)", bold=True, fg="yellow")
        for c in report.failing_collectors:
            where = f" {c.source}" if c.source else ""
            next_try = c.next_attempt_at.strftime("%Y-%m-%d %H:%M UTC") if c.next_attempt_at else "-"
            click.echo(
                f"  {c.campaign} {c.kind} {c.platform}{where}: {c.consecutive_failures} failure(s), "
                f"next try {next_try}: {c.last_error or ''}".rstrip()
            )
    if report.latest_report:
        click.echo(f"\nLatest weekly report: {report.latest_report}")


@click.command(cls=CampaignCommand)
@click.option("--campaign", help="Only this campaign (its folder name).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--limit", default=20, show_default=True, help="How many upcoming and published items to list.")
def status(campaign: str | None, as_json: bool, limit: int) -> None:
    """What is upcoming, in flight, published (with links), failed and missed, and whether posting is paused."""
    app = api()
    report = app.status(campaign=campaign, limit=limit)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    _show_status(report)
    dry_run_notice(app)
