"""`campaign`: plan, check and post campaign calendars to Bluesky and Mastodon, exactly once.

Every command parses its arguments, makes one call into the application API (scheduler.api) and prints."""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from cli.calendar import calendar
from cli.common import CampaignGroup, actor, api, dry_run_notice, local
from cli.reports import collect, report
from scheduler.api import PLATFORMS, CrashLoop, StatusReport


@click.group(cls=CampaignGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="campaign-scheduler")
def main() -> None:
    """Plan, check and post survivor-led campaign calendars to Bluesky and Mastodon, exactly once.

    Settings come from the environment (or a .env file): CAMPAIGN_DATABASE_URL (default
    sqlite:///var/campaign.db), CAMPAIGN_REDIS_URL (default: a private Redis that `campaign run` starts),
    BLUESKY_HANDLE, BLUESKY_APP_PASSWORD, BLUESKY_SERVICE, MASTODON_API_BASE_URL, MASTODON_ACCESS_TOKEN.
    A platform without credentials is a dry run: its posts go to the outbox file.
    """


main.add_command(calendar)
main.add_command(report)
main.add_command(collect)


@main.command()
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


@main.command()
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


@main.command()
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


@main.command()
def resume() -> None:
    """Resume posting after `campaign pause`."""
    was_paused, reason = api().resume(actor=actor())
    if was_paused:
        click.secho(f"Resumed (it was paused: {reason or 'no reason given'}).", fg="green")
    else:
        click.secho("Posting was not paused; nothing changed.", fg="green")


@main.command()
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


@main.command()
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


@main.command("post-now")
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


@main.group()
def accounts() -> None:
    """The platform accounts the scheduler posts as."""


@accounts.command("check")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def accounts_check(as_json: bool) -> None:
    """Log in to each configured account (reusing the cached session) and show who it is and what it may do.

    Secrets are never printed. A platform without credentials is reported as a dry run."""
    app = api()
    checks = app.accounts_check()
    if as_json:
        click.echo(json.dumps([check.to_json() for check in checks], indent=2))
    for check in checks if not as_json else ():
        if check.dry_run:
            click.echo(f"{check.platform}: dry run (no credentials): posts go to the outbox {app.settings.outbox_path}")
        elif check.info is None:
            click.secho(f"{check.platform}: {check.problem}", fg="red")
        else:
            info = check.info
            state = "can post" if info.can_post else "CANNOT post"
            click.secho(f"{check.platform}: {info.handle} ({info.account_id}) on {info.service}: {state}",
                        fg="green" if info.can_post else "red")  # fmt: skip
            for note in info.notes:
                click.echo(f"  {note}")
    if not all(check.ok for check in checks):
        sys.exit(1)


@main.command()
@click.option("--tail", "tail", type=int, default=20, show_default=True, help="Show the last N entries (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
@click.option("--path", "path", type=click.Path(path_type=Path), help="Another outbox file (e.g. a rehearsal's).")
def outbox(tail: int, as_json: bool, path: Path | None) -> None:
    """Show the dry-run outbox: exactly what would have been sent to platforms without credentials."""
    target, entries = api().outbox(path=path, tail=tail)
    if as_json:
        for entry in entries:
            click.echo(json.dumps(entry, ensure_ascii=False))
        return
    if not entries:
        click.echo(f"The outbox {target} is empty.")
        return
    for entry in entries:
        sent: dict[str, Any] = entry["would_send"]
        planned = datetime.fromisoformat(entry["planned_at"])
        written = datetime.fromisoformat(entry["written_at"])
        zone = str(sent.get("timezone") or planned.tzinfo or "UTC")
        head = f"{entry['platform']:<9}{entry['campaign']}/{entry['post_id']}" + (
            f" part {entry['part']}" if entry["part"] else ""
        )
        click.secho(f"{local(planned, zone)}  {head}  (written {local(written, zone)})", bold=True)
        if sent.get("spoiler_text"):
            click.echo(f"  CW: {sent['spoiler_text']}")
        for line in sent["text"].splitlines():
            click.echo(f"  {line}")
        for image in sent.get("images", []):
            click.echo(f"  [image {Path(image['path']).name}: {image['alt']}]")
        if sent.get("link_card"):
            click.echo(f"  [link card: {sent['link_card']['title']} {sent['link_card']['url']}]")
        click.echo("")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--concurrency", default=4, show_default=True, help="Threads of the posting worker.")
def run(paths: tuple[Path, ...], concurrency: int) -> None:
    """Run the scheduler here: schedule PATHS (if given), then start Redis (unless CAMPAIGN_REDIS_URL is set),
    Celery beat, a posting worker and a collection worker, and post everything on time until Ctrl-C.

    Stopping is clean (beat first, then the worker finishes what it holds, then Redis writes its log) and loses
    nothing: the schedule lives in the database, and starting again resumes where it stopped.
    """
    app = api()
    if paths:
        click.get_current_context().invoke(schedule, paths=paths)
    engine = app.start_engine(concurrency=concurrency)
    stopping = False
    crashed: CrashLoop | None = None

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        if engine.redis_socket:
            click.echo(f"Started a private Redis on {engine.redis_socket}")
        report = app.status(limit=5)
        click.echo(f"Database: {app.database_label()}")
        click.echo(f"Worker and beat running (logs in {engine.logs}). Ctrl-C stops cleanly.")
        if report.paused:
            click.secho(f"Posting is PAUSED: {report.pause_reason}", fg="red")
        for view in report.upcoming:
            part = f" part {view.part}" if view.part else ""
            click.echo(
                f"  next: {local(view.due_at, view.timezone)}  {view.campaign}/{view.post_id} {view.platform}{part}"
            )
        dry_run_notice(app)
        while not stopping:
            for name in engine.services.supervise_once():
                click.secho(f"{name} stopped unexpectedly; restarted it (see {engine.logs}).", fg="yellow", err=True)
            time.sleep(0.5)
    except CrashLoop as error:
        crashed = error
    finally:
        click.echo("Stopping: beat, then the worker (finishing what it holds), then Redis...")
        engine.services.stop()
        click.echo("Stopped. Nothing is lost: `campaign run` resumes from the database.")
    if crashed is not None:
        raise click.ClickException(str(crashed))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--speed", type=float, default=1000.0, show_default=True, help="How many times faster than real time.")
@click.option(
    "--start", default=None, help="Virtual start: 'now', or an ISO date-time (default: just before the first post)."
)
@click.option("--max-seconds", type=float, default=None, help="Stop after this many real seconds.")
def rehearse(paths: tuple[Path, ...], speed: float, start: str | None, max_seconds: float | None) -> None:
    """Play calendars against a clock running SPEED times fast, into a rehearsal outbox.

    Uses the real dispatch policy and publish path on a separate rehearsal database, so the real schedule
    is untouched and nothing reaches any platform. Prints each post's planned and actual time."""
    app = api()
    if start is None:
        virtual_start = None
    elif start == "now":
        virtual_start = app.clock.now()
    else:
        try:
            virtual_start = datetime.fromisoformat(start)
        except ValueError:
            raise click.BadParameter(f"{start!r} is not 'now' or a date and time such as 2027-02-01T09:00.") from None
        if virtual_start.tzinfo is None:
            virtual_start = virtual_start.replace(tzinfo=ZoneInfo(app.settings.timezone))

    def show(item: Any) -> None:
        lag = item.lag.total_seconds()
        out = item.actual.astimezone(ZoneInfo(item.timezone))
        click.echo(
            f"{local(item.planned, item.timezone)} planned, out {out:%H:%M:%S} "
            f"({lag:+.3f} s)  {item.platform:<9}{item.campaign}/{item.post_id}"
            + (f" part {item.part}" if item.part else "")
            + ("" if item.result == "published" else f"  [{item.result}]")
        )

    result = app.rehearse(paths, speed=speed, start=virtual_start, on_delivery=show, max_real_seconds=max_seconds)
    published = sum(1 for d in result.delivered if d.result == "published")
    click.echo(
        f"Rehearsal done: {published} published, {result.missed} missed, {result.failed} failed. "
        f"Outbox: {result.outbox}"
    )
    if result.missed or result.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
