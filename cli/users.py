"""`campaign users ...`: the people who may sign in to the workspace, and what each may do."""

from __future__ import annotations

import json

import click

from cli.common import CampaignCommand, CampaignGroup, actor, api
from scheduler.api import new_password


@click.group("users", cls=CampaignGroup)
def users() -> None:
    """The people who may sign in to the web workspace, and their roles.

    Roles rank viewer < editor < approver < admin: a viewer reads; an editor also schedules, cancels, restores,
    retries and posts now; an approver also approves colleagues' posts and pauses; an admin also manages people.

    \b
    Examples:
      campaign users add sam --role editor
      campaign users passwd sam
      campaign users list
    """


def _new_password(given: bool) -> tuple[str, bool]:
    """(password, whether it was made here and must be shown once)."""
    if given:
        return click.prompt("New password", hide_input=True, confirmation_prompt=True), False
    return new_password(), True


@users.command("add", cls=CampaignCommand)
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["viewer", "editor", "approver", "admin"]))
@click.option("--prompt-password", is_flag=True, help="Type the password instead of getting a new one.")
@click.option("--no-password", is_flag=True, help="A command-line identity only (cannot sign in to the web).")
def add(name: str, role: str, prompt_password: bool, no_password: bool) -> None:
    """Add NAME with a ROLE. A new password is made and shown once (only its hash is kept).

    \b
    Examples:
      campaign users add sam --role editor
      campaign users add director --role approver --prompt-password
    """
    password, made = (None, False) if no_password else _new_password(prompt_password)
    person = api().add_person(name, role, password=password, actor=actor())
    click.echo(f"Added {person.name} as {person.role}.")
    if made:
        click.secho(f"Password for {person.name} (shown once, give it to them privately): {password}", bold=True)


@users.command("passwd", cls=CampaignCommand)
@click.argument("name")
@click.option("--prompt-password", is_flag=True, help="Type the password instead of getting a new one.")
def passwd(name: str, prompt_password: bool) -> None:
    """Give NAME a new password; they are signed out everywhere.

    \b
    Examples:
      campaign users passwd sam
    """
    password, made = _new_password(prompt_password)
    app = api()
    app.set_password(name, password, actor=actor())
    click.echo(f"New password set for {name}; they are signed out everywhere.")
    if made:
        click.secho(f"Password for {name} (shown once, give it to them privately): {password}", bold=True)


@users.command("role", cls=CampaignCommand)
@click.argument("name")
@click.argument("role", type=click.Choice(["viewer", "editor", "approver", "admin"]))
def role(name: str, role: str) -> None:
    """Change what NAME may do.

    \b
    Examples:
      campaign users role sam approver
    """
    person = api().set_role(name, role, actor=actor())
    click.echo(f"{person.name} is now {person.role}.")


@users.command("remove", cls=CampaignCommand)
@click.argument("name")
def remove(name: str) -> None:
    """Remove NAME: they can no longer sign in; what they did stays in the record.

    \b
    Examples:
      campaign users remove sam
    """
    api().remove_person(name, actor=actor())
    click.echo(f"Removed {name}.")


@users.command("sign-out", cls=CampaignCommand)
@click.argument("name")
def sign_out(name: str) -> None:
    """Sign NAME out of every browser at once.

    \b
    Examples:
      campaign users sign-out sam
    """
    api().sign_out_everywhere(name, actor=actor())
    click.echo(f"{name} is signed out everywhere.")


@users.command("list", cls=CampaignCommand)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_users(as_json: bool) -> None:
    """Everyone who may sign in, with their role.

    \b
    Examples:
      campaign users list
    """
    found = api().people()
    if as_json:
        click.echo(json.dumps([p.to_json() for p in found], indent=2))
        return
    if not found:
        click.echo("Nobody yet: `campaign users add NAME --role admin` adds the first person.")
    for person in found:
        click.echo(f"{person.name:<24} {person.role:<9} {'' if person.can_sign_in else '(command line only)'}".rstrip())
