"""The second pair of eyes: `campaign review` (what awaits approval, as each platform will receive it),
`campaign approve` and `campaign reject`. Approving and rejecting are done in the name of the person at the
keyboard (`campaign --as NAME`, CAMPAIGN_USER, or their login name), who must be an approver here."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click
from rich.padding import Padding
from rich.rule import Rule
from rich.text import Text

from cli.calendar_preview import _console, _indent, _post_block
from cli.common import CampaignCommand, acted_on, api, local, person
from scheduler.api import Decision, ReviewItem, ScheduleOutcome, UsageRefused

campaign_option = click.option(
    "--campaign", help="Only this campaign (its folder name); with an id, the campaign the id is in."
)
HOW = (
    "Approve with `campaign approve POST_ID...` (or `--file CALENDAR` for every post of a file), as someone other "
    'than who scheduled it; reject with `campaign reject POST_ID --reason "..."`. On the web: `campaign serve`, open '
    "the post and press Approve or Reject."
)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _label(item: ReviewItem) -> Text:
    label = Text(" AWAITING APPROVAL ", style="bold black on yellow")
    if item.state.rejections:
        label = Text(" REJECTED ", style="bold white on red")
    return label


def _status_line(item: ReviewItem) -> Padding:
    line = Text()
    line.append(f"{item.campaign}, version {item.version}")
    if item.state.author:
        line.append(f", scheduled by {item.state.author}")
    line.append(": ")
    line.append(item.state.words(), style="red" if item.state.rejections else "yellow")
    return _indent(line, 2)


def _json(item: ReviewItem) -> dict[str, object]:
    return {
        "campaign": item.campaign,
        "post_id": item.post_id,
        "source": item.source,
        "at": item.post.at.isoformat(),
        "version": item.state.content_hash,
        "author": item.state.author,
        "needs": item.state.missing,
        "state": item.state.words(),
        "approved_by": [v.actor for v in item.state.approvals],
        "rejected_by": [{"by": v.actor, "reason": v.comment} for v in item.state.rejections],
        "platforms": {name: [part.to_json() for part in parts] for name, parts in item.rendered.items()},
        "findings": [finding.to_json() for finding in item.findings],
    }


@click.command(cls=CampaignCommand)
@campaign_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def review(campaign: str | None, as_json: bool) -> None:
    """List every post that awaits approval, exactly as each platform will receive it (as `campaign calendar
    show` shows a post), with who scheduled it and what it still needs.

    A campaign whose campaign.yaml says `approval: required` posts nothing that enough people other than its
    author have not approved, in exactly the version that goes out: any change voids earlier approvals.

    \b
    Examples:
      campaign review
      campaign review --campaign sasvaw-week
    """
    items = api().review(campaign=campaign)
    if as_json:
        click.echo(json.dumps([_json(item) for item in items], indent=2, ensure_ascii=False))
        return
    if not items:
        click.echo("Nothing awaits approval." + (f" (campaign {campaign})" if campaign else ""))
        return
    console = _console()
    day: tuple[str, date] | None = None
    for item in items:
        if (item.campaign, item.post.at.date()) != day:
            day = (item.campaign, item.post.at.date())
            when = item.post.at
            console.print(Rule(f"{item.campaign}: {when:%A} {when.day} {when:%B %Y}", align="left"))
        console.print(_post_block(item.post, item.rendered, list(item.findings), None, label=_label(item)))
        console.print(_status_line(item))
        console.print()
    click.echo(f"{_count(len(items), 'post')} awaiting approval. {HOW}")


@click.command(cls=CampaignCommand)
@click.argument("post_ids", nargs=-1)
@click.option(
    "--file",
    "calendar_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Approve every post of this calendar file that awaits approval, as the file has it now.",
)
@campaign_option
@click.option("--comment", default="", help="A note kept with your approval (optional).")
def approve(post_ids: tuple[str, ...], calendar_file: Path | None, campaign: str | None, comment: str) -> None:
    """Approve posts (by id, or every post of a calendar file) in your name, exactly as they are scheduled now:
    once enough people other than whoever scheduled a post have approved it, it goes out at its time.

    Needs the approver role (who you are: `campaign --as NAME approve ...`, CAMPAIGN_USER, or your login name).
    With ids, all are approved or none (nothing is recorded if one is refused). With --file, posts that changed
    in the file since they were scheduled, and your own, are left and listed.

    \b
    Examples:
      campaign approve d2-if-a-child-tells-you d3-adult-survivors
      campaign approve --file campaigns/sasvaw-week/calendars/week-2027.yaml --comment "Helplines checked"
    """
    if bool(post_ids) == bool(calendar_file):
        raise UsageRefused("Name the posts to approve (their ids), or one calendar file with --file, not both.")
    who = person()
    app = api()
    if calendar_file is not None:
        result = app.approve_file(calendar_file, person=who.name, comment=comment)
        for decision in result.approved:
            _said(decision)
        for left in result.left:
            click.secho(f"Not approved: {left}.", fg="yellow")
        if not result.approved and not result.left:
            click.echo(f"Nothing in {calendar_file} awaits approval.")
        acted_on()
        if result.left and not result.approved:
            raise SystemExit(1)
        return
    for decision in app.approve(list(post_ids), person=who.name, campaign=campaign, comment=comment):
        _said(decision)
    acted_on()


@click.command(cls=CampaignCommand)
@click.argument("post_id")
@click.option("--reason", required=True, help="Why, for whoever scheduled it: kept with your name.")
@campaign_option
def reject(post_id: str, reason: str, campaign: str | None) -> None:
    """Reject a post in your name: it does not go out, in this version, until it is changed in its calendar file
    and scheduled again (then approved), or until you approve it after all.

    Needs the approver role.

    \b
    Examples:
      campaign reject d3-adult-survivors --reason "The helpline number is the old one"
    """
    who = person()
    decision = api().reject(post_id, person=who.name, reason=reason, campaign=campaign)
    _said(decision)
    for where in decision.in_flight:
        click.secho(f"  {where} was already being posted: it was too late to hold it. Check the account.", fg="red")
    acted_on()


def _said(decision: Decision) -> None:
    head = f"{decision.campaign}/{decision.post_id} (version {decision.version}, “{decision.first_words}”)"
    when = local(decision.at, decision.timezone)
    if decision.verdict == "rejected":
        click.secho(f"Rejected {head}: it will not go out at {when} unless it is changed and approved.", fg="red")
        return
    if not decision.recorded:
        click.echo(f"You had approved {head} already: nothing changed.")
    elif decision.state.approved:
        click.secho(f"Approved {head}: it goes out at {when}.", fg="green")
    else:
        click.secho(f"Approved {head}: it still {decision.state.words()}.", fg="yellow")


def schedule_notes(outcome: ScheduleOutcome, campaign: str) -> None:
    """What `campaign schedule` says of approval, under a campaign's line: the posts whose change voided their
    approval, and what awaits approval and how to approve it."""
    for note in outcome.report.approval_notes:
        if note.campaign == campaign:
            click.secho(f"  {note.post_id}: {note.words}", fg="yellow")
    waiting = outcome.report.awaiting.get(campaign)
    if waiting:
        shown = ", ".join(waiting[:5]) + (f" and {len(waiting) - 5} more" if len(waiting) > 5 else "")
        click.secho(f"  awaiting approval: {_count(len(waiting), 'post')} ({shown}); `campaign review` shows them.",
                    fg="yellow")  # fmt: skip
        click.echo(f"  {HOW}")
