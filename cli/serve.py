"""`campaign serve`: the web workspace, on this machine."""

from __future__ import annotations

import click
import uvicorn

from cli.common import CampaignCommand, actor, api

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command("serve", cls=CampaignCommand)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Where to listen. The default is this machine only; anything else needs TLS in front of it.",
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Serve the web workspace: the calendar, previews, status and the operator's buttons in a browser.

    On a first start with nobody to sign in, an admin is made and its password shown here once.

    \b
    Examples:
      campaign serve
      campaign serve --port 8080
    """
    app = api()
    created = app.first_admin(actor=f"campaign serve@{actor()}")
    address = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    click.echo(f"The workspace is at {address}")
    if created is not None:
        name, password = created
        click.secho(f"First start: sign in as {name} with the password {password} (shown once; change it with "
                    f"`campaign users passwd {name}`).", bold=True)  # fmt: skip
    else:
        click.echo("Sign in with your name and password (an admin adds people with `campaign users add`).")
    if host not in LOOPBACK:
        click.secho(f"Listening on {host}, not only this machine: put TLS in front of it and set "
                    "CAMPAIGN_WEB_SECURE_COOKIES=1.", fg="yellow", err=True)  # fmt: skip
    else:
        click.echo("Only this machine can reach it (use --host to change that).")
    # Open pages keep an event stream each (web/live.py): Ctrl-C closes them after 2 s instead of waiting for them.
    uvicorn.run("web.app:app_from_environment", factory=True, host=host, port=port, log_level="warning",
                proxy_headers=False, server_header=False, timeout_graceful_shutdown=2)  # fmt: skip
