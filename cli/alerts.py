"""`campaign alerts test` (one test alert to each address) and `campaign health` (whether the scheduler is alive,
for cron, systemd or a container's health check)."""

from __future__ import annotations

import json
import sys

import click

from cli.common import CampaignCommand, CampaignGroup, api


@click.group(cls=CampaignGroup)
def alerts() -> None:
    """Alerts: a message when a post fails or is missed, a login is refused, a collector stops, posting is paused
    or held, and more; sent to the addresses in CAMPAIGN_ALERT_URLS (Apprise: e-mail, Slack, Matrix, Teams,
    Discord, ntfy, webhooks...). The scheduler sends them by itself while it runs.

    \b
    Examples:
      campaign alerts test
    """


@alerts.command("test")
def test() -> None:
    """Send one test alert to each address in CAMPAIGN_ALERT_URLS, and say which took it (exits 1 if any did not).

    Set the addresses in .env (CAMPAIGN_ALERT_URLS="ntfy://ntfy.sh/our-alerts mailtos://..."), then test them.

    \b
    Examples:
      campaign alerts test
    """
    results = api().alerts_test()
    for result in results:
        if result.sent:
            click.secho(f"Sent: {result.url}", fg="green")
        else:
            click.secho(f"Not sent: {result.url}: {result.problem}", fg="red")
    if not all(result.sent for result in results):
        sys.exit(1)


@click.command(cls=CampaignCommand)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def health(as_json: bool) -> None:
    """Say in one line whether the scheduler is running: it is when it checked the schedule within the last minute.
    Exits 0 when it is, 1 when it is not, so cron, systemd or a container's health check can raise the alarm when
    nothing else is alive to (in cron: campaign health || mail -s "scheduler down" comms@example.org).

    \b
    Examples:
      campaign health
      campaign health --json
    """
    answer = api().health()
    if as_json:
        click.echo(json.dumps(answer.to_json(), indent=2))
    else:
        click.secho(answer.line, fg="green" if answer.ok else "red")
    if not answer.ok:
        sys.exit(1)
