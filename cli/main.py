"""`campaign`: plan, check and post campaign calendars to Bluesky and Mastodon, exactly once.

Every command is a thin call into scheduler.api, scheduler.dispatch or content_calendar."""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import make_url

from cli.calendar import calendar
from cli.reports import collect, report
from scheduler import api as operations
from scheduler import dispatch
from scheduler.clock import SystemClock
from scheduler.db import Store
from scheduler.settings import Settings, load_settings

clock = SystemClock()


def _settings() -> Settings:
    return load_settings()


def _store(settings: Settings) -> Store:
    return Store(settings.database_url)


def _actor() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "operator"
    return f"{user}@{socket.gethostname()}"


def dry_run_notice(settings: Settings) -> None:
    missing = settings.dry_run_platforms()
    if missing:
        click.secho(
            f"Dry run for {', '.join(missing)}: no credentials, so their posts go to the outbox "
            f"{settings.outbox_path} (see `campaign outbox`). Set "
            + " / ".join(
                {
                    "bluesky": "BLUESKY_HANDLE and BLUESKY_APP_PASSWORD",
                    "mastodon": "MASTODON_API_BASE_URL and MASTODON_ACCESS_TOKEN",
                }[p]
                for p in missing
            )
            + " to post for real.",
            fg="yellow",
            err=True,
        )


def _local(instant: datetime | None, zone: str = "Europe/London") -> str:
    if instant is None:
        return "-"
    from zoneinfo import ZoneInfo

    return instant.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y %H:%M")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def schedule(paths: tuple[Path, ...]) -> None:
    """Sync calendar files into the schedule, in one transaction.

    New posts are added, changed unpublished posts updated, posts removed from a file cancelled, published
    posts never touched. Any validation error stops it before anything is written. Running it twice changes
    nothing.
    """
    settings = _settings()
    store = _store(settings)
    try:
        report, problems = operations.schedule_paths(
            store, paths, now=clock.now(), campaigns_dir=settings.campaigns_dir, actor=_actor()
        )
    except operations.ScheduleRefused as refused:
        for line in refused.problems:
            click.secho(line, fg="red", err=True)
        click.secho(
            "Nothing was scheduled: fix the errors above and run `campaign schedule` again.", fg="red", err=True
        )
        sys.exit(1)
    except Exception as error:
        from scheduler.sync import SyncRefused

        if isinstance(error, SyncRefused):
            for line in error.reasons:
                click.secho(line, fg="red", err=True)
            click.secho("Nothing was changed.", fg="red", err=True)
            sys.exit(1)
        raise
    for problem in problems:
        click.secho(problem.format(), fg="yellow", err=True)
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
    dry_run_notice(settings)


@main.command()
@click.option("--campaign", help="Only this campaign (its folder name).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--limit", default=20, show_default=True, help="How many upcoming and published items to list.")
def status(campaign: str | None, as_json: bool, limit: int) -> None:
    """What is upcoming, in flight, published (with links), failed and missed, and whether posting is paused."""
    settings = _settings()
    report = operations.status(_store(settings), clock.now(), campaign=campaign, limit=limit)
    latest = operations.latest_report(settings.reports_dir, campaign)
    report.latest_report = str(latest) if latest else None
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    if report.paused:
        click.secho(
            f"PAUSED: {report.pause_reason or 'no reason given'} (`campaign resume` to continue)", fg="red", bold=True
        )
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report.counts.items())) or "nothing scheduled yet"
    click.echo(f"Deliveries: {counts}")

    def section(title: str, items: list[operations.DeliveryView], colour: str | None, show: str) -> None:
        if not items:
            return
        click.secho(f"\n{title}", bold=True, fg=colour)
        for v in items:
            where = f"{v.campaign}/{v.post_id} {v.platform}" + (f" part {v.part}" if v.part else "")
            extra = {"due": "", "url": v.url or "", "error": v.last_error or ""}[show]
            if v.dry_run and show == "url":
                extra = f"(dry run) {extra}"
            click.echo(f"  {_local(v.published_at if show == 'url' else v.due_at)}  {where}  {extra}".rstrip())

    section("Missed (not posted; `campaign retry POST_ID` posts them now)", report.missed, "red", "error")
    section("Failed (`campaign retry POST_ID` after fixing the cause)", report.failed, "red", "error")
    section("In flight", report.in_flight, "yellow", "due")
    section("Upcoming", report.upcoming, None, "due")
    section("Recently published", report.published, "green", "url")
    from scheduler.collection import collector_states

    failing = [c for c in collector_states(_store(settings), campaign) if c.consecutive_failures]
    if failing:
        click.secho("\nCollectors failing (posting is not affected)", bold=True, fg="yellow")
        for c in failing:
            where = f" {c.source}" if c.source else ""
            click.echo(
                f"  {c.campaign} {c.kind} {c.platform}{where}: {c.consecutive_failures} failure(s), "
                f"next try {_local(c.next_attempt_at)}: {c.last_error or ''}".rstrip()
            )
    if report.latest_report:
        click.echo(f"\nLatest weekly report: {report.latest_report}")
    dry_run_notice(settings)


@main.command()
@click.option("--reason", required=True, help="Why posting is paused (kept in the events log).")
@click.option("--wait", default=120, show_default=True, help="Seconds to wait for posts already being sent.")
def pause(reason: str, wait: int) -> None:
    """Stop all posting now. When this returns, nothing more goes out until `campaign resume`.

    Use it when news breaks and scheduled content could hurt. Posts that fall due while paused are held, and
    become missed after their misfire grace (then `campaign retry` posts them if still wanted)."""
    from datetime import timedelta

    still = operations.pause_and_drain(
        _store(_settings()), clock, reason=reason, actor=_actor(), wait=timedelta(seconds=wait)
    )
    if still:
        click.secho(f"Paused, but {still} post(s) were still being sent after {wait} s.", fg="yellow")
        sys.exit(1)
    click.secho("Paused. Nothing more will be posted until `campaign resume`.", fg="red", bold=True)


@main.command()
def resume() -> None:
    """Resume posting after `campaign pause`."""
    dispatch.resume(_store(_settings()), clock.now(), actor=_actor())
    click.secho("Resumed.", fg="green")


@main.command()
@click.argument("post_id")
@click.option("--campaign", help="The campaign, when the same post id exists in several.")
def cancel(post_id: str, campaign: str | None) -> None:
    """Cancel every unpublished delivery of POST_ID (published ones are never touched).

    A part being published at this moment cannot be called back: it ends cancelled if that attempt fails, and
    the thread parts after it are cancelled now."""
    try:
        result = dispatch.cancel(_store(_settings()), post_id, clock.now(), actor=_actor(), campaign=campaign)
    except dispatch.OperatorError as error:
        raise click.ClickException(str(error)) from error
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
@click.option(
    "--platform", type=click.Choice(["bluesky", "mastodon"]), help="Only this platform's deliveries (default: all)."
)
def retry(post_id: str, campaign: str | None, platform: str | None) -> None:
    """Post POST_ID's missed or failed deliveries now (an explicit decision to post late).

    One whose last attempt ended with an unknown outcome is looked for on the platform first and posted only
    if it is not there."""
    try:
        rearmed = dispatch.retry(
            _store(_settings()), post_id, clock.now(), actor=_actor(), campaign=campaign, platform=platform
        )
    except dispatch.OperatorError as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"Re-armed {len(rearmed)} deliver{'y' if len(rearmed) == 1 else 'ies'} of {post_id}: "
        "they go out at the next tick."
    )


@main.command("post-now")
@click.argument("post_id")
@click.option("--platform", required=True, type=click.Choice(["bluesky", "mastodon"]), help="Where to post it.")
@click.option("--campaign", help="The campaign, when the same post id exists in several.")
def post_now(post_id: str, platform: str, campaign: str | None) -> None:
    """Publish POST_ID (and its thread) to one platform now, through the same path as a scheduled post.

    It uses the same idempotency key, so a second call finds it published and posts nothing. A missed or
    failed delivery is re-armed first."""
    from scheduler.publishing import post_now as publish_now
    from scheduler.ratelimit import RateLimiter
    from scheduler.wiring import Adapters, policy_from, redactor_from

    settings = _settings()
    try:
        outcomes = publish_now(
            _store(settings),
            post_id,
            platform,
            campaign=campaign,
            adapter_for=Adapters(settings),
            clock=clock,
            policy=policy_from(settings),
            worker=f"post-now@{_actor()}",
            limiter=RateLimiter(settings.redis_url) if settings.redis_url else None,
            redact=redactor_from(settings),
        )
    except dispatch.OperatorError as error:
        raise click.ClickException(str(error)) from error
    failed = False
    for outcome in outcomes:
        colour = {"published": "green", "skipped": None, "failed": "red"}.get(outcome.result, "yellow")
        click.secho(f"{outcome.result}: delivery {outcome.delivery_id} {outcome.detail}".rstrip(), fg=colour)
        failed = failed or outcome.result in ("failed", "retry", "held")
    dry_run_notice(settings)
    if failed:
        sys.exit(1)


@main.group()
def accounts() -> None:
    """The platform accounts the scheduler posts as."""


@accounts.command("check")
def accounts_check() -> None:
    """Log in to each configured account (reusing the cached session) and show who it is and what it may do.

    Secrets are never printed. A platform without credentials is reported as a dry run."""
    from platforms.base import AdapterError
    from scheduler.wiring import Adapters, redactor_from

    settings = _settings()
    adapters = Adapters(settings)
    redact = redactor_from(settings)
    problems = 0
    for platform in ("bluesky", "mastodon"):
        adapter = adapters("-", platform)
        if adapter.dry_run:
            click.echo(f"{platform}: dry run (no credentials): posts go to the outbox {settings.outbox_path}")
            continue
        try:
            info = adapter.check_account()  # type: ignore[attr-defined]
        except AdapterError as error:
            problems += 1
            click.secho(f"{platform}: {redact(str(error))}", fg="red")
            continue
        state = "can post" if info.can_post else "CANNOT post"
        click.secho(
            f"{platform}: {info.handle} ({info.account_id}) on {info.service}: {state}",
            fg="green" if info.can_post else "red",
        )
        for note in info.notes:
            click.echo(f"  {redact(note)}")
        problems += 0 if info.can_post else 1
    if problems:
        sys.exit(1)


@main.command()
@click.option("--tail", "tail", type=int, default=20, show_default=True, help="Show the last N entries (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
@click.option("--path", "path", type=click.Path(path_type=Path), help="Another outbox file (e.g. a rehearsal's).")
def outbox(tail: int, as_json: bool, path: Path | None) -> None:
    """Show the dry-run outbox: exactly what would have been sent to platforms without credentials."""
    from platforms.outbox import read_outbox

    settings = _settings()
    target = path or settings.outbox_path
    entries = read_outbox(target)
    if tail:
        entries = entries[-tail:]
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
        head = f"{entry['platform']:<9}{entry['campaign']}/{entry['post_id']}" + (
            f" part {entry['part']}" if entry["part"] else ""
        )
        click.secho(f"{_local(planned)}  {head}  (written {_local(written)})", bold=True)
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
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--concurrency", default=4, show_default=True, help="Threads of the posting worker.")
def run(paths: tuple[Path, ...], concurrency: int) -> None:
    """Run the scheduler here: schedule PATHS (if given), then start Redis (unless CAMPAIGN_REDIS_URL is set),
    Celery beat, a posting worker and a collection worker, and post everything on time until Ctrl-C.

    Stopping is clean (beat first, then the worker finishes what it holds, then Redis writes its log) and loses
    nothing: the schedule lives in the database, and starting again resumes where it stopped.
    """
    from scheduler.embedded import CrashLoop, EmbeddedRedis, Services, beat_process, celery_env, worker_process

    settings = _settings()
    store = _store(settings)
    if paths:
        ctx = click.get_current_context()
        ctx.invoke(schedule, paths=paths)
    redis_server = None
    env = settings.to_env()
    if not settings.redis_url:
        redis_server = EmbeddedRedis(settings.data_dir / "redis")
        env["CAMPAIGN_REDIS_URL"] = redis_server.start()
        click.echo(f"Started a private Redis on {redis_server.socket}")
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    services = Services(redis_server)
    child_env = celery_env(env)
    services.children = [
        beat_process(child_env, schedule_file=settings.data_dir / "celerybeat-schedule", log_path=logs / "beat.log"),
        worker_process(
            child_env, name="publish", queues=("publish",), concurrency=concurrency, log_path=logs / "worker.log"
        ),
        # Collection has its own worker, so slow hashtag reads never hold a thread a post needs.
        worker_process(child_env, name="collect", queues=("collect",), concurrency=2, log_path=logs / "collect.log"),
    ]
    stopping = False
    crashed: CrashLoop | None = None

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        for child in services.children:
            child.start()
        report = operations.status(store, clock.now(), limit=5)
        click.echo(f"Database: {make_url(settings.database_url).render_as_string(hide_password=True)}")
        click.echo(f"Worker and beat running (logs in {logs}). Ctrl-C stops cleanly.")
        if report.paused:
            click.secho(f"Posting is PAUSED: {report.pause_reason}", fg="red")
        for view in report.upcoming:
            part = f" part {view.part}" if view.part else ""
            click.echo(f"  next: {_local(view.due_at)}  {view.campaign}/{view.post_id} {view.platform}{part}")
        dry_run_notice(settings)
        while not stopping:
            for name in services.supervise_once():
                click.secho(f"{name} stopped unexpectedly; restarted it (see {logs}).", fg="yellow", err=True)
            time.sleep(0.5)
    except CrashLoop as error:
        crashed = error
    finally:
        click.echo("Stopping: beat, then the worker (finishing what it holds), then Redis...")
        services.stop()
        click.echo("Stopped. Nothing is lost: `campaign run` resumes from the database.")
    if crashed is not None:
        raise click.ClickException(str(crashed))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--speed", type=float, default=1000.0, show_default=True, help="How many times faster than real time.")
@click.option(
    "--start", default=None, help="Virtual start: 'now', or an ISO date-time (default: just before the first post)."
)
@click.option("--max-seconds", type=float, default=None, help="Stop after this many real seconds.")
def rehearse(paths: tuple[Path, ...], speed: float, start: str | None, max_seconds: float | None) -> None:
    """Play calendars against a clock running SPEED times fast, into a rehearsal outbox.

    Uses the real dispatch policy and publish path on a separate rehearsal database, so the real schedule
    is untouched and nothing reaches any platform. Prints each post's planned and actual time."""
    from scheduler.rehearse import rehearse as play

    settings = _settings()
    if start is None:
        virtual_start = None
    elif start == "now":
        virtual_start = clock.now()
    else:
        virtual_start = datetime.fromisoformat(start)
        if virtual_start.tzinfo is None:
            from zoneinfo import ZoneInfo

            virtual_start = virtual_start.replace(tzinfo=ZoneInfo("Europe/London"))
    directory = settings.data_dir / "rehearsals" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    def show(item: Any) -> None:
        lag = item.lag.total_seconds()
        click.echo(
            f"{_local(item.planned)} planned, out {_local(item.actual)}:{item.actual.second:02d} "
            f"({lag:+.3f} s)  {item.platform:<9}{item.campaign}/{item.post_id}"
            + (f" part {item.part}" if item.part else "")
            + ("" if item.result == "published" else f"  [{item.result}]")
        )

    try:
        result = play(
            paths,
            speed=speed,
            start=virtual_start,
            campaigns_dir=settings.campaigns_dir,
            directory=directory,
            on_delivery=show,
            max_real_seconds=max_seconds,
        )
    except operations.ScheduleRefused as refused:
        for line in refused.problems:
            click.secho(line, fg="red", err=True)
        sys.exit(1)
    published = sum(1 for d in result.delivered if d.result == "published")
    click.echo(
        f"Rehearsal done: {published} published, {result.missed} missed, {result.failed} failed. "
        f"Outbox: {result.outbox}"
    )
    if result.missed or result.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
