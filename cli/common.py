"""What every command shares: the application API (built once per invocation), who is acting, times in the
campaign's own zone, the workspace a command acted on, and one place where refusals become a message and an exit
code."""

from __future__ import annotations

import getpass
import inspect
import socket
import sys
import traceback
from datetime import datetime
from typing import Any

import click

from scheduler.api import (
    CREDENTIAL_SETTINGS,
    Api,
    NotFound,
    Person,
    Refused,
    UsageRefused,
    debug_requested,
    local_time,
)


def debugging(ctx: click.Context) -> bool:
    """`campaign --debug ...`, or CAMPAIGN_DEBUG: refusals show their traceback too."""
    return bool(ctx.find_root().meta.get("campaign.debug")) or debug_requested()


def _refusal(ctx: click.Context, refused: Refused) -> None:
    if debugging(ctx):
        click.echo("".join(traceback.format_exception(refused)).rstrip(), err=True)
    for line in refused.lines:
        click.secho(line, fg="red", err=True)
    ctx.exit(refused.exit_code)


EXAMPLES = "\b\nExamples:\n"


def _examples_last(command: click.Command) -> None:
    """Move the docstring's `Examples:` block (a \\b block, kept as written) after the options in --help, where
    people look for it."""
    text = inspect.cleandoc(command.help or "")
    if EXAMPLES in text:
        command.help, examples = text.split(EXAMPLES, 1)
        command.epilog = EXAMPLES + examples + (f"\n\n{command.epilog}" if command.epilog else "")


class CampaignCommand(click.Command):
    """A command whose refusals (scheduler.errors.Refused) print their lines in red and exit with their code,
    without a traceback: the one place a refusal becomes an exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _examples_last(self)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Refused as refused:
            _refusal(ctx, refused)


class CampaignGroup(click.Group):
    """A group whose commands (and sub-groups) are CampaignCommands, and whose own refusals are handled alike."""

    command_class = CampaignCommand

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _examples_last(self)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Refused as refused:
            _refusal(ctx, refused)


CampaignGroup.group_class = CampaignGroup


def api(*, create_store: bool = False) -> Api:
    """The Api of this invocation, built on first use and closed when the command ends. Only a command that
    may create the database when there is none says `create_store=True` (schedule, run); for the others a
    missing database is refused, and one that is never read is never opened."""
    built = click.get_current_context().find_root().meta.get("campaign.api")
    if built is None:
        built = keep(Api.from_settings(create_store=create_store))
    assert isinstance(built, Api)
    return built


def keep(built: Api) -> Api:
    """Make `built` the Api of this invocation (closed when the command ends)."""
    root = click.get_current_context().find_root()
    root.meta["campaign.api"] = built
    root.call_on_close(built.close)
    return built


def workspace_words(app: Api) -> str:
    """Where the schedule a command acts on is: the workspace folder and its database."""
    settings = app.settings
    if settings.workspace is None:
        return f"none (database {settings.database_label()}, named in the environment)"
    return f"{settings.workspace.parent} (database {settings.database_label()})"


def acted_on() -> None:
    """One line saying which workspace this command acted on, so that a pause never goes elsewhere unnoticed."""
    click.echo(f"Workspace: {workspace_words(api())}", err=True)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "operator"


def claimed_name() -> tuple[str, str]:
    """Who the person at the keyboard says they are, and where that came from: `campaign --as NAME`, else
    CAMPAIGN_USER, else their login name on this machine."""
    given = click.get_current_context().find_root().meta.get("campaign.as")
    if given:
        return str(given), "--as"
    if api().settings.campaign_user:
        return api().settings.campaign_user, "CAMPAIGN_USER"
    return _login_name(), "your login name on this computer"


def identity_lines(name: str, how: str) -> tuple[str, ...]:
    """What to do when the workspace does not know the name someone gave."""
    return (
        f"You are {name!r} here ({how}), but this workspace has no user called {name!r}.",
        f"Fix: say who you are with `campaign --as NAME ...` (or CAMPAIGN_USER=NAME in .env), or ask an admin to add "
        f"you: `campaign users add {name} --role editor` (--role approver to approve posts). `campaign users list` "
        "shows who there is.",
    )


def person() -> Person:
    """The person at the keyboard, for a command that needs to know (approving, rejecting, scheduling posts that
    need approval): refused, saying what to do, when the workspace does not know them."""
    name, how = claimed_name()
    try:
        return api().person(name)
    except NotFound:
        raise Refused(*identity_lines(name, how)) from None


def actor() -> str:
    """Who did it, for the record: the person's name when the workspace knows them, else user@host."""
    try:
        return person().name
    except Refused:  # not a user here, or no schedule yet to know them by
        return f"{_login_name()}@{socket.gethostname()}"


def local(instant: datetime | None, zone: str) -> str:
    """An instant as people read it in `zone`, with the zone's abbreviation (GMT or BST in London)."""
    return local_time(instant, zone)


def dry_run_notice(app: Api) -> None:
    missing = app.settings.dry_run_platforms()
    if missing:
        click.secho(
            f"Dry run for {', '.join(missing)}: no credentials, so their posts go to the outbox "
            f"{app.settings.outbox_path} (see `campaign outbox`). Set "
            + " / ".join(CREDENTIAL_SETTINGS[p] for p in missing)
            + " to post for real.",
            fg="yellow",
            err=True,
        )


yes_option = click.option("--yes", "-y", is_flag=True, help="Do it without asking first (for scripts).")


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def go_ahead(*, yes: bool) -> None:
    """Ask "Go ahead? [y/N]" (after the command has shown exactly what it will do), unless --yes. Without a
    terminal to ask on, refuse (exit 2) rather than guess; a "no" changes nothing (exit 1)."""
    if yes:
        return
    if not stdin_is_terminal():
        raise UsageRefused("Nothing was done: this asks before it acts, and there is no terminal to ask on.",
                           "Add --yes to do this without a question.")  # fmt: skip
    if not click.confirm("Go ahead?", default=False):
        raise Refused("Nothing was done.")


def debug_detail(detail: str | None) -> str:
    """A library's own words for a problem (the YAML reader's), added under it with `campaign --debug`."""
    ctx = click.get_current_context(silent=True)
    if detail and (debugging(ctx) if ctx is not None else debug_requested()):
        return f"\n    detail (--debug): {detail}"
    return ""
