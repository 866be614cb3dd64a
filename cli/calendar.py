"""`campaign calendar ...`: check, preview and export calendar files. Nothing here writes to the store.

Every command is a thin face over content_calendar (check_calendar, to_ical); the clock is read only here,
as the default of --now, and passed in.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from cli.calendar_preview import _console, _post_block
from cli.common import CampaignGroup, api, debug_detail
from content_calendar.model import PLATFORMS, Post, Problem
from scheduler.api import CheckResult


class _AwareDateTime(click.ParamType):
    name = "ISO-DATETIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO date and time such as 2027-02-01T09:00+00:00.", param, ctx)
        if moment.tzinfo is None:
            self.fail(f"{value!r} has no UTC offset; write e.g. 2027-02-01T09:00+00:00 or ...Z.", param, ctx)
        return moment


class _Day(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date such as 2027-02-01.", param, ctx)


def _problem_text(problem: Problem) -> Text:
    style = "bold red" if problem.severity == "error" else "yellow"
    text = Text()
    text.append(problem.where, style="cyan")
    if problem.post_id:
        text.append(f" post {problem.post_id}")
    text.append(": ")
    text.append(problem.severity, style=style)
    text.append(f" [{problem.code}] ", style="dim")
    text.append(problem.message)
    text.append("\n    fix: ", style="green")
    text.append(problem.fix + debug_detail(problem.detail))
    return text


def _summary(result_errors: int, result_warnings: int) -> str:
    def plural(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"

    return f"{plural(result_errors, 'error')}, {plural(result_warnings, 'warning')}"


campaigns_dir_option = click.option(
    "--campaigns-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    envvar="CAMPAIGN_CAMPAIGNS_DIR",
    default=None,
    help="Folder holding one folder per campaign (campaign.yaml, media/). Calendar files inside a campaign "
    "folder find it themselves; this is for files elsewhere that name `campaign: <slug>`. "
    "Default: $CAMPAIGN_CAMPAIGNS_DIR (also read from .env), else ./campaigns when it exists, else the "
    "project's campaigns/ folder.",
)
now_option = click.option(
    "--now",
    type=_AwareDateTime(),
    default=None,
    help="The current time, ISO 8601 with a UTC offset (e.g. 2027-02-01T09:00+00:00); posts before it are "
    "warned about. Default: the real current time.",
)
mastodon_limit_option = click.option(
    "--mastodon-max-characters",
    type=click.IntRange(min=1),
    default=None,
    help="Check Mastodon posts against this many characters instead. Default: what your Mastodon instance said "
    "when last read (by `campaign accounts check`, or before posting), else Mastodon's default of 500.",
)


@click.group("calendar", cls=CampaignGroup)
def calendar() -> None:
    """Check, preview and export calendar files (YAML, or spreadsheets: ours, Hootsuite, Sprout Social).

    Nothing here schedules or posts anything: use `campaign schedule` for that.

    \b
    Examples:
      campaign calendar validate campaigns/sasvaw-week/calendars/
      campaign calendar show campaigns/sasvaw-week/calendars/week-2027.yaml --platform bluesky
      campaign calendar export-ical campaigns/sasvaw-week/calendars/week-2027.yaml -o week.ics
    """


@calendar.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the problems as a JSON list (file, line, post_id, severity, code, message, fix) instead of text.",
)
@now_option
@campaigns_dir_option
@mastodon_limit_option
def validate_command(
    paths: Sequence[Path],
    as_json: bool,
    now: datetime | None,
    campaigns_dir: Path | None,
    mastodon_max_characters: int | None,
) -> None:
    """Check calendar files and report every problem, each with file, line, post id and a fix.

    PATHS are calendar files (.yaml, .yml, or spreadsheets: .csv, .tsv, .txt, .xlsx, .ods) or folders (every
    calendar file inside them is checked).
    Checks: ids (unique within each campaign, across the files given), times (including times that do not
    exist or happen twice when the clocks change), platforms, text length as Bluesky (300 characters) and
    Mastodon count it, content warnings, alt text, images (inside the
    campaign folder, supported type, small enough after resizing, at most 4), links, hashtags, posts already in
    the past, and accessibility and safe messaging (alt text that describes, hashtags screen readers can say,
    emoji, what the campaign's topics require: `campaign calendar check --accessibility` lists those by post).

    Mastodon's limits (characters, the weight of a link Mastodon recognises, images, alt text, video) are those
    your instance gave when last read (by `campaign accounts check`, or before posting); until then Mastodon's
    defaults (500 characters, links 23, alt text 1,500). Each message says which applied.

    Exit status: 0 when there are no errors (warnings are printed but allowed), 1 when there is any error,
    2 when the command itself is used wrongly (including a path that does not exist or a folder without
    calendar files).

    \b
    Examples:
      campaign calendar validate campaigns/act-on-iicsa/calendars/jan-mar-2027.yaml
      campaign calendar validate campaigns/sasvaw-week/calendars/ --json
    """
    app = api()
    checked = app.check_calendars(
        paths, now=now or app.clock.now(), campaigns_dir=campaigns_dir, mastodon_max_characters=mastodon_max_characters
    )
    results, problems, errors = checked.results, checked.problems, len(checked.errors)
    if as_json:
        click.echo(json.dumps([p.to_json() for p in problems], indent=2, ensure_ascii=False))
    else:
        console = _console(soft_wrap=True)  # one problem per line stays greppable
        for result in results:
            for problem in result.problems:
                console.print(_problem_text(problem))
            verdict = Text("OK", style="bold green") if result.ok else Text("FAILED", style="bold red")
            posts = len(result.calendar.posts) if result.calendar else 0
            line = Text(f"{result.path}: ")
            line.append(verdict)
            line.append(f" ({posts} posts; {_summary(len(result.errors), len(result.warnings))})")
            console.print(line)
    if errors:
        raise SystemExit(1)


@calendar.command("show")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--platform",
    type=click.Choice(PLATFORMS),
    default=None,
    help="Show only what this platform will receive (and only posts that go to it).",
)
@click.option("--from", "from_day", type=_Day(), default=None, help="First day to show (local date, YYYY-MM-DD).")
@click.option("--to", "to_day", type=_Day(), default=None, help="Last day to show (local date, inclusive).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (see docs/json.md).")
@now_option
@campaigns_dir_option
@mastodon_limit_option
def show_command(
    path: Path,
    platform: str | None,
    from_day: date | None,
    to_day: date | None,
    as_json: bool,
    now: datetime | None,
    campaigns_dir: Path | None,
    mastodon_max_characters: int | None,
) -> None:
    """Preview a calendar day by day, exactly as each platform will receive it.

    For every post: local time, id, status (drafts are marked and never posted), platforms, and per platform
    the rendered text of the post and each thread reply with the length used of the limit (e.g. 212/300;
    on Bluesky links are shown shortened, as Bluesky's own app posts them, with the full address they open),
    content warning, images with their alt text, link card, reply and quote settings, then the post's
    warnings and errors. Exit status 1 when the calendar has errors (shown at the top and under their posts;
    whatever can be shown still is).

    \b
    Examples:
      campaign calendar show campaigns/sasvaw-week/calendars/week-2027.yaml --platform bluesky
      campaign calendar show campaigns/act-on-iicsa/calendars/jan-mar-2027.yaml --from 2027-02-01 --to 2027-02-07
    """
    app = api()
    result = app.check_calendar(
        path, now=now or app.clock.now(), campaigns_dir=campaigns_dir, mastodon_max_characters=mastodon_max_characters
    )
    console = _console()
    by_post: dict[str, list[Problem]] = defaultdict(list)
    shown_ids = set(result.rendered)
    general: list[Problem] = []
    for problem in result.problems:
        if problem.post_id is not None and problem.post_id in shown_ids:
            by_post[problem.post_id].append(problem)
        else:
            general.append(problem)
    calendar_ = result.calendar
    if as_json:
        click.echo(json.dumps(_show_json(path, result, by_post, platform, from_day, to_day), indent=2,
                              ensure_ascii=False))  # fmt: skip
        if not result.ok:
            raise SystemExit(1)
        return
    title = Text(str(path), style="bold")
    if result.campaign is not None:
        title.append(f"  {result.campaign.name} ({result.campaign.slug})")
    if calendar_ is not None:
        title.append(f"  times in {calendar_.timezone}", style="dim")
    console.print(title)
    for problem in general:
        console.print(_problem_text(problem))
    if calendar_ is not None:
        posts = _shown_posts(result, platform, from_day, to_day)
        current_day: date | None = None
        for post in posts:
            if post.at.date() != current_day:
                current_day = post.at.date()
                console.print(Rule(f"{current_day:%A} {current_day.day} {current_day:%B %Y}", align="left"))
            helpline = result.campaign.helpline if result.campaign is not None else ""
            problems = by_post.get(post.id, [])
            console.print(_post_block(post, result.rendered[post.id], problems, platform, helpline=helpline))
        if not posts:
            console.print("No posts to show.", style="yellow")
        drafts = sum(1 for p in posts if p.status == "draft")
        console.print(
            Text(
                f"{len(posts)} posts shown ({drafts} drafts); {_summary(len(result.errors), len(result.warnings))}",
                style="bold red" if result.errors else "bold",
            )
        )
    if not result.ok:
        raise SystemExit(1)


def _shown_posts(result: CheckResult, platform: str | None, from_day: date | None, to_day: date | None) -> list[Post]:
    if result.calendar is None:
        return []
    posts = sorted((post for post in result.calendar.posts if post.id in result.rendered), key=lambda p: (p.at, p.id))
    if platform is not None:
        posts = [p for p in posts if platform in p.targets()]
    if from_day is not None:
        posts = [p for p in posts if p.at.date() >= from_day]
    if to_day is not None:
        posts = [p for p in posts if p.at.date() <= to_day]
    return posts


def _show_json(
    path: Path,
    result: CheckResult,
    by_post: dict[str, list[Problem]],
    platform: str | None,
    from_day: date | None,
    to_day: date | None,
) -> dict[str, Any]:
    """`calendar show --json`: the posts shown, each with what every platform receives (docs/json.md)."""
    posts = []
    for post in _shown_posts(result, platform, from_day, to_day):
        rendered = {name: parts for name, parts in result.rendered[post.id].items() if platform in (None, name)}
        posts.append(
            {
                "id": post.id,
                "at": post.at.isoformat(),
                "status": post.status,
                "platforms": list(post.targets()),
                "skipped": [p for p in post.platforms if p not in post.targets()],
                "parts": {name: [part.to_json() for part in parts] for name, parts in rendered.items()},
                "problems": [problem.to_json() for problem in by_post.get(post.id, [])],
            }
        )
    return {
        "file": str(path),
        "campaign": result.campaign.slug if result.campaign else None,
        "campaign_name": result.campaign.name if result.campaign else None,
        "timezone": result.calendar.timezone if result.calendar else None,
        "ok": result.ok,
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "problems": [problem.to_json() for problem in result.problems],
        "posts": posts,
    }


def _write_atomically(target: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and os.replace: readers never see half a file."""
    temporary: str | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
        ) as handle:
            temporary = handle.name
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise


@calendar.command("export-ical")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .ics file to write ('-' for standard output).",
)
@campaigns_dir_option
def export_ical_command(path: Path, output: Path, campaigns_dir: Path | None) -> None:
    """Export a calendar as an iCalendar (.ics) file for Outlook, Google Calendar or Apple Calendar.

    One 15-minute event per post at its local time, describing exactly what each platform will receive,
    with the platforms it goes to as categories; drafts are tentative events. Event UIDs stay the same
    across exports (campaign and post id), and each event's LAST-MODIFIED and SEQUENCE come from the newest
    of the calendar file, campaign.yaml and the images it uses, so a calendar app that updates events by UID
    replaces the older events with a newer export's instead of adding copies. Rows without an id (Hootsuite
    and Sprout Social sheets, a CSV without an id column) have an id made from their time and text: editing
    either makes a new event, and the old one stays until deleted. Refuses (exit status 1, nothing written)
    when the calendar has errors; the file is written whole or not at all.

    \b
    Examples:
      campaign calendar export-ical campaigns/sasvaw-week/calendars/week-2027.yaml -o week.ics
      campaign calendar export-ical campaigns/act-on-iicsa/calendars/jan-mar-2027.yaml -o -
    """
    result, data = api().export_ical(path, campaigns_dir=campaigns_dir)
    if data is None or result.calendar is None:
        console = Console(stderr=True, highlight=False)
        for problem in result.errors:
            console.print(_problem_text(problem))
        console.print(
            f"Not exported: {_summary(len(result.errors), len(result.warnings))}. Fix the errors and try again.",
            style="bold red",
            markup=False,
        )
        raise SystemExit(1)
    if str(output) == "-":
        click.echo(data, nl=False)  # bytes go to the binary stream as they are
        return
    if not output.parent.is_dir():
        raise click.BadParameter(f"the folder {output.parent} does not exist.", param_hint="--output")
    _write_atomically(output, data)
    click.echo(f"Wrote {output}: {len(result.calendar.posts)} events.")
