"""`campaign serve`: the web workspace, on this machine. `campaign run` starts the same server beside the scheduler."""

from __future__ import annotations

import errno
import socket
import sys

import click
import uvicorn

from cli.common import CampaignCommand, api
from scheduler.api import Api, ExtraProcess

LOOPBACK = ("127.0.0.1", "localhost", "::1")
APP = "web.app:app_from_environment"
# Open pages keep an event stream each (web/live.py): stopping closes them after 2 s instead of waiting for them.
GRACEFUL_SECONDS = 2


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
    (`campaign run` serves it too, beside the scheduler.)

    \b
    Examples:
      campaign serve
      campaign serve --port 8080
    """
    app = api()
    say_where_to_sign_in(app, host, port, command="campaign serve")
    if host not in LOOPBACK:
        click.secho(f"Listening on {host}, not only this machine: put TLS in front of it and set "
                    "CAMPAIGN_WEB_SECURE_COOKIES=1.", fg="yellow", err=True)  # fmt: skip
    else:
        click.echo("Only this machine can reach it (use --host to change that).")
    uvicorn.run(APP, factory=True, host=host, port=port, log_level="warning", proxy_headers=False,
                server_header=False, timeout_graceful_shutdown=GRACEFUL_SECONDS)  # fmt: skip


def say_where_to_sign_in(app: Api, host: str, port: int, *, command: str) -> None:
    """The workspace's address and how to sign in: on a first start with nobody to sign in, a new admin's
    password, shown this once (only its hash is stored). The audit names the workspace as who made that admin,
    with the command that started it (no person signed in did)."""
    created = app.first_admin(actor=f"the workspace (first start, {command})")
    click.echo(f"The web workspace is at {address(host, port)}")
    if created is not None:
        name, password = created
        click.secho(f"First start: sign in as {name} with the password {password} (shown once; change it with "
                    f"`campaign users passwd {name}`).", bold=True)  # fmt: skip
    else:
        click.echo("Sign in with your name and password (an admin adds people with `campaign users add`).")


def address(host: str, port: int) -> str:
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def web_process(host: str, port: int) -> ExtraProcess:
    """The web workspace as a process `campaign run` supervises (it reads the same settings from its environment)."""
    return ExtraProcess(
        "web",
        (sys.executable, "-m", "uvicorn", APP, "--factory", "--host", host, "--port", str(port), "--log-level",
         "warning", "--no-proxy-headers", "--no-server-header", "--timeout-graceful-shutdown",
         str(GRACEFUL_SECONDS)),
    )  # fmt: skip


def free_port(host: str, wanted: int, *, tries: int = 20) -> int | None:
    """`wanted`, or the next port up that nothing listens on (another workspace's server may hold 8000)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in range(wanted, min(wanted + tries, 65536)):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no hindrance
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                continue
            return port
    return None


def answers(host: str, port: int) -> bool:
    """Whether something accepts connections there now."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
