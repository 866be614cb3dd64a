"""`campaign run` (the scheduler itself, here) and `campaign rehearse` (a calendar on a fast clock)."""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from cli.common import CampaignCommand, actor, api, dry_run_notice, local
from cli.listen import listen_process
from cli.schedule import schedule
from cli.serve import answers, free_port, say_where_to_sign_in, web_process
from scheduler.api import Api, CrashLoop, ExtraProcess, platform_name

WEB_HOST = "127.0.0.1"  # `campaign run` serves this machine only; `campaign serve --host` is for anything else


@click.command(cls=CampaignCommand)
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--concurrency", default=4, show_default=True, help="Threads of the posting worker.")
@click.option(
    "--web-port",
    default=8000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Where the web workspace listens on this machine (the next free port if that one is taken).",
)
@click.option("--no-web", is_flag=True, help="Do not start the web workspace (`campaign serve` starts it alone).")
def run(paths: tuple[Path, ...], concurrency: int, web_port: int, no_web: bool) -> None:
    """Run the scheduler here: schedule PATHS (if given), then start Redis (unless CAMPAIGN_REDIS_URL is set),
    Celery beat, a posting worker, a collection worker and the web workspace on this machine (127.0.0.1), and
    post everything on time until Ctrl-C. It prints the workspace's address and how to sign in.

    Stopping is clean (beat first, then the worker finishes what it holds, then Redis writes its log) and loses
    nothing: the schedule lives in the database, and starting again resumes where it stopped.

    \b
    Examples:
      campaign run
      campaign run campaigns/act-on-iicsa/calendars/jan-mar-2027.yaml --concurrency 8
      campaign run --web-port 8080
    """
    app = api(create_store=True)
    if paths:
        click.get_current_context().invoke(schedule, paths=paths)
    _check_logins(app)  # before anything is posted: a refused login holds its platform, loudly
    port = None if no_web else free_port(WEB_HOST, web_port)
    if port is None and not no_web:
        click.secho(f"No free port from {web_port} up: the web workspace is not started (`--web-port` picks "
                    "another). Posting goes on.", fg="yellow", err=True)  # fmt: skip
    engine = app.start_engine(concurrency=concurrency, extra=extra_processes(app, port))
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
        if port is not None:
            _say_web(app, port, engine.logs)
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
        web = "the web workspace, " if port is not None else ""
        click.echo(f"Stopping: {web}beat, then the worker (finishing what it holds), then Redis...")
        engine.services.stop()
        click.echo("Stopped. Nothing is lost: `campaign run` resumes from the database.")
    if crashed is not None:
        sent = app.alert_crash_loop(str(crashed))  # nothing else is alive to say so
        if sent:
            click.echo(f"Alert sent to {sum(1 for d in sent if d.sent)} of {len(sent)} alert address(es).", err=True)
        raise click.ClickException(str(crashed))


def extra_processes(app: Api, web_port: int | None) -> list[ExtraProcess]:
    """What `campaign run` starts beside the scheduler: the web workspace (unless there is no port for it) and,
    when BLUESKY_RELAY is set, a listener following Bluesky as it happens (its own process: a busy stream never
    slows posting)."""
    web = [web_process(WEB_HOST, web_port)] if web_port is not None else []
    return [*web, *([listen_process()] if app.settings.bluesky_relay else [])]


def _say_web(app: Api, port: int, logs: Path) -> None:
    say_where_to_sign_in(app, WEB_HOST, port, command="campaign run")
    deadline = time.monotonic() + 15
    while not answers(WEB_HOST, port) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not answers(WEB_HOST, port):
        click.secho(f"The web workspace has not answered yet: see {logs / 'web.log'}.", fg="yellow", err=True)


def _check_logins(app: Api) -> None:
    """Each platform's login, as `campaign run` starts: refused means held (and alerted), never failing post by post."""
    for check in app.check_logins(actor=actor()):
        name = platform_name(check.platform)
        if check.state == "refused" and check.hold is not None:
            click.secho(
                f"{name} refused our login: {check.detail}. Every post to {name} is held (hold {check.hold.id})"
                + (", and an alert was sent" if check.alerted else "")
                + f". Fix the credentials in .env, run `campaign run` again, then `campaign release {check.hold.id}`.",
                fg="red",
                bold=True,
            )
        elif check.state == "unreachable":
            click.secho(f"Could not check the {name} login now ({check.detail}): each post tries at its time.",
                        fg="yellow")  # fmt: skip
        elif check.state == "ok" and check.hold is not None:
            click.secho(
                f"{name}: logged in {check.detail}, but hold {check.hold.id} still holds its posts: `campaign release "
                f"{check.hold.id}` lifts it (it asks about the posts whose time came meanwhile).",
                fg="yellow",
            )
        elif check.state == "ok":
            click.echo(f"{name}: logged in {check.detail}.")


@click.command(cls=CampaignCommand)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--speed", type=float, default=1000.0, show_default=True, help="How many times faster than real time.")
@click.option(
    "--start", default=None, help="Virtual start: 'now', or an ISO date-time (default: just before the first post)."
)
@click.option(
    "--real-gaps",
    is_flag=True,
    help="Play the quiet gaps between posts at SPEED too (by default each lasts at most a second: the clock then "
    "jumps to the next post).",
)
@click.option("--max-seconds", type=float, default=None, help="Stop after this many real seconds.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document at the end instead of lines as it plays.")
def rehearse(
    paths: tuple[Path, ...], speed: float, start: str | None, real_gaps: bool, max_seconds: float | None, as_json: bool
) -> None:
    """Play calendars against a clock running SPEED times fast, into a rehearsal outbox.

    Uses the real dispatch policy and publish path on a separate rehearsal database, so the real schedule is
    untouched and nothing reaches any platform. First says what it will play (the campaigns, from the first post
    to the last, in each campaign's zone) and how long that will take; then each post's planned and actual
    time; then what went out, what did not, and the largest lag. Quiet gaps are skipped unless --real-gaps.

    \b
    Examples:
      campaign rehearse campaigns/sasvaw-week/calendars/ --speed 5000
      campaign rehearse campaigns/act-on-iicsa/calendars/jan-mar-2027.yaml --real-gaps --speed 100000
      campaign rehearse campaigns/sasvaw-week/calendars/ --json
    """
    if speed <= 0:
        raise click.BadParameter("must be more than 0, such as 1000.", param_hint="--speed")
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

    def plan(header: Any) -> None:
        if not as_json:
            _show_plan(header)

    def show(item: Any) -> None:
        if as_json:
            return
        what = f"{item.platform:<9}{item.campaign}/{item.post_id}" + (f" part {item.part}" if item.part else "")
        if item.actual is None:
            click.secho(f"{local(item.planned, item.timezone)} planned, not posted ({item.result})  {what}", fg="red")
            return
        out = item.actual.astimezone(ZoneInfo(item.timezone))
        click.echo(
            f"{local(item.planned, item.timezone)} planned, out {out:%H:%M:%S %Z} ({item.lag.total_seconds():+.3f} s)"
            f"  {what}" + ("" if item.result == "published" else f"  [{item.result}]")
        )

    result = app.rehearse(
        paths, speed=speed, start=virtual_start, real_gaps=real_gaps, on_plan=plan, on_delivery=show,
        max_real_seconds=max_seconds,
    )  # fmt: skip
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        _show_summary(result)
    if result.missed or result.failed:
        sys.exit(1)


def _show_plan(plan: Any) -> None:
    """The rehearsal's header: what will be played, how fast, and how long it will take."""
    for window in plan.campaigns:
        click.secho(
            f"Rehearsing {window.campaign}: {_count(window.posts, 'post')} ({_count(window.parts, 'part')}), from "
            f"{local(window.first, window.timezone)} to {local(window.last, window.timezone)} ({window.timezone}).",
            bold=True,
        )
    if not plan.campaigns:
        click.echo("Nothing to rehearse: no post of these calendars is still to come.")
    speed = f"{plan.speed:g} times real time"
    if plan.skip_gaps:
        click.echo(
            f"Speed: {speed}. Quiet gaps are skipped: each wait for the next post lasts at most "
            f"{_count(plan.pause, 'second')}, then the clock jumps to it (--real-gaps plays them at this speed: "
            f"{_duration(plan.estimate_real_gaps)})."
        )
    else:
        click.echo(f"Speed: {speed}. Quiet gaps are played at this speed (--real-gaps).")
    limit = "" if plan.max_real_seconds is None else f", stopping after {_duration(plan.max_real_seconds)}"
    click.echo(f"Estimated real time: {_duration(plan.estimate)}{limit}. Nothing reaches any platform.\n")


def _show_summary(result: Any) -> None:
    colour = "red" if result.missed or result.failed else "green"
    click.secho(
        f"\nRehearsal done: {result.published} published, {result.missed} missed, {result.failed} failed.",
        fg=colour,
        bold=True,
    )
    worst = result.largest_lag
    if worst is not None:
        part = f", part {worst.part}" if worst.part else ""
        click.echo(
            f"Largest lag: {worst.lag.total_seconds():+.3f} s ({worst.campaign}/{worst.post_id} on "
            f"{platform_name(worst.platform)}{part})."
        )
    estimate = f" (estimated {_duration(result.plan.estimate)})" if result.plan else ""
    click.echo(f"Took {_duration(result.real_seconds)}{estimate}.")
    if result.not_played:
        click.secho(f"Stopped by --max-seconds: {_count(result.not_played, 'part')} not played.", fg="yellow")
    click.echo(f"See what would have been sent: campaign outbox --path {result.outbox} --tail 0")
    click.echo(f"Outbox: {result.outbox}")


def _count(number: float, word: str) -> str:
    return f"{number:g} {word}" + ("" if number == 1 else "s")


def _duration(seconds: float) -> str:
    """Real time as people say it: "about 40 seconds", "about 2 hours 14 minutes"."""
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"about {_count(round(seconds), 'second')}"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {_count(minutes, 'minute')}"
    hours, minutes = divmod(minutes, 60)
    return f"about {_count(hours, 'hour')}" + (f" {_count(minutes, 'minute')}" if minutes else "")
