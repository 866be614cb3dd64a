"""`campaign calendar check`: every finding of calendar files by post, with a count per kind, so a comms lead can fix
a week's calendar in one sitting (`--accessibility`: only alt text, hashtags, emoji, captions and topic protections)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from cli.calendar import calendar, campaigns_dir_option, now_option
from cli.common import api


@calendar.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--accessibility",
    is_flag=True,
    help="Only accessibility and safe-messaging findings: alt text that describes, hashtags screen readers can "
    "say, emoji, video captions, content warnings, helplines and what the campaign's topics require.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings by post, and the counts, as JSON.")
@now_option
@campaigns_dir_option
def check_command(
    paths: Sequence[Path], accessibility: bool, as_json: bool, now: datetime | None, campaigns_dir: Path | None
) -> None:
    """List every finding of calendar files by post, with a count per kind of finding.

    PATHS are calendar files or folders, as for `campaign calendar validate`. Each finding is one line: the file
    and line (or row), the post, what is wrong and how to fix it.

    Exit status: 0 when no finding is an error, 1 when one is.

    \b
    Examples:
      campaign calendar check --accessibility campaigns/sasvaw-week/calendars/
      campaign calendar check --accessibility campaigns/act-on-iicsa/calendars/jan-mar-2027.yaml --json
    """
    app = api()
    checked, report = app.calendar_findings(
        paths, accessibility=accessibility, now=now or app.clock.now(), campaigns_dir=campaigns_dir
    )
    if as_json:
        data = {
            "posts": [
                {"file": group.file, "post_id": group.post_id, "findings": [p.to_json() for p in group.problems]}
                for group in report.posts
            ],
            "counts": {code: count for code, _, count in report.kinds},
            "total": report.total,
            "errors": report.errors,
        }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        what = "accessibility and safe-messaging findings" if accessibility else "findings"
        for group in report.posts:
            click.secho(f"{group.file}: post {group.post_id}" if group.post_id else f"{group.file}:", bold=True)
            for problem in group.problems:
                click.echo(f"  {problem.format()}")
        if report.kinds:
            click.secho("By kind:", bold=True)
            width = max(len(name) for _, name, _ in report.kinds)
            for code, name, count in report.kinds:
                click.echo(f"  {name:<{width}}  {count:>3}  ({code})")
        posts = sum(1 for group in report.posts if group.post_id)
        files = len(checked.results)
        click.echo(
            f"{report.total} {what} in {posts} post{'' if posts == 1 else 's'} of {files} "
            f"file{'' if files == 1 else 's'} ({report.errors} error{'' if report.errors == 1 else 's'})."
        )
    if report.errors:
        raise SystemExit(1)
