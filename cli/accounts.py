"""`campaign accounts check` and `campaign outbox`: who we post as, and what a dry run would have sent."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cli.common import CampaignCommand, CampaignGroup, api, local


@click.group(cls=CampaignGroup)
def accounts() -> None:
    """The platform accounts the scheduler posts as.

    \b
    Examples:
      campaign accounts check
    """


@accounts.command("check")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def accounts_check(as_json: bool) -> None:
    """Log in to each configured account (reusing the cached session) and show who it is and what it may do.

    Secrets are never printed. A platform without credentials is reported as a dry run.

    \b
    Examples:
      campaign accounts check
      campaign accounts check --json
    """
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


@click.command(cls=CampaignCommand)
@click.option("--tail", "tail", type=int, default=20, show_default=True, help="Show the last N entries (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
@click.option(
    "--path",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),  # a mistyped path is an error, not "empty"
    help="Another outbox file (e.g. a rehearsal's).",
)
def outbox(tail: int, as_json: bool, path: Path | None) -> None:
    """Show the dry-run outbox: exactly what would have been sent to platforms without credentials.

    \b
    Examples:
      campaign outbox
      campaign outbox --tail 0 --json
    """
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
