"""A voice when things go wrong: alerts through Apprise (e-mail, Slack, Matrix, Teams, Discord, ntfy, webhooks...)
to the addresses of CAMPAIGN_ALERT_URLS.

Beat runs `sweep` every minute: it finds what is alert-worthy (scheduler/alert_rules.py), records each alert by
its key in `alerts_sent` in the same transaction that moves the events cursor on (so a fact is neither lost nor
alerted twice), then sends what is not sent yet: each at once, or, with CAMPAIGN_ALERT_DIGEST=daily, all of a day
as one message after 08:00 in the workspace's zone. Where a fact is born in a process without beat (`campaign
run` finding a login refused as it starts, or stopping for a crash loop) it is sent at once with `send_now`.
Every text is passed through the redactor first: an alert never carries a secret."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.alert_rules import Alert, Place, find
from scheduler.db import Store
from scheduler.models import Setting
from scheduler.review_models import SentAlert
from scheduler.settings import Settings

log = logging.getLogger("campaign.alerts")

LEASE_KEY = "alerts_lease"  # one sweep at a time: a slow alert service must not have two sweeps send twice
DIGEST_KEY = "alerts_digest_on"  # the local date of the last digest sent
LEASE = timedelta(minutes=5)
DIGEST_AT = time(8, 0)  # the daily digest goes out at the first sweep after this, in the workspace's zone
RETRY_FOR = timedelta(hours=24)  # an alert no address took is tried again at each sweep for this long
GROUP_OVER = 3  # more new alerts of one kind than this in one sweep are sent as one message


class Sender(Protocol):
    def __call__(self, url: str, title: str, body: str) -> str | None:
        """Send one message to one address: None when it was taken, else why not (no secret in it)."""


def apprise_sender(url: str, title: str, body: str) -> str | None:
    import apprise  # imported when first sent: it loads a plugin for every service it knows

    notifier = apprise.Apprise()
    if not notifier.add(url):
        return "this is not an alert address Apprise understands (see CAMPAIGN_ALERT_URLS in the README)"
    if notifier.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT):
        return None
    return "the service did not take the message (check the address, and that the service is reachable)"


def shown_url(url: str, redact: Callable[[str], str]) -> str:
    """An address as people may read it: its scheme and host, the secret parts masked."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    return redact(f"{scheme}://{host}" if rest else url)


@dataclass(frozen=True)
class Delivered:
    """What became of one message at one address."""

    url: str  # as shown: secrets masked
    sent: bool
    problem: str = ""


def send(
    urls: Sequence[str], title: str, body: str, *, sender: Sender, redact: Callable[[str], str]
) -> list[Delivered]:
    title, body = redact(title), redact(body)
    results = []
    for url in urls:
        try:
            problem = sender(url, title, body)
        except Exception as error:  # a plugin's own failure: one address never stops the others
            problem = f"{type(error).__name__}: {error}"
        results.append(Delivered(shown_url(url, redact), problem is None, redact(problem or "")))
    return results


# --- the store ---------------------------------------------------------------------------------------------------


def _take_lease(store: Store, now: datetime) -> bool:
    with store.transaction() as session:
        row = session.get(Setting, LEASE_KEY, with_for_update=store.dialect == "postgresql")
        if row is not None and row.value and datetime.fromisoformat(row.value) > now:
            return False
        until = (now + LEASE).isoformat()
        if row is not None:
            row.value, row.updated_at = until, now
            return True
        try:
            with session.begin_nested():
                session.add(Setting(key=LEASE_KEY, value=until, updated_at=now))
        except IntegrityError:
            return False
        return True


def _drop_lease(store: Store) -> None:
    with store.transaction() as session:
        row = session.get(Setting, LEASE_KEY)
        if row is not None:
            row.value = ""


def _record(session: Session, alerts: Sequence[Alert], now: datetime, *, sent: bool = False) -> list[Alert]:
    """Keep each alert not kept before; returns those that are new."""
    if not alerts:
        return []
    known = set(session.scalars(select(SentAlert.key).where(SentAlert.key.in_([a.key for a in alerts]))))
    new = []
    for alert in alerts:
        if alert.key in known:
            continue
        known.add(alert.key)
        session.add(
            SentAlert(
                key=alert.key[:200],
                kind=alert.kind[:32],
                summary=alert.text(),
                sent_at=now if sent else None,
                created_at=now,
            )
        )
        new.append(alert)
    return new


def _waiting(store: Store, now: datetime, *, everything: bool) -> list[SentAlert]:
    with store.transaction() as session:
        statement = select(SentAlert).where(SentAlert.sent_at.is_(None)).order_by(SentAlert.id)
        if not everything:
            statement = statement.where(SentAlert.created_at >= now - RETRY_FOR)
        return list(session.scalars(statement))


def _mark_sent(store: Store, ids: Sequence[int], now: datetime) -> None:
    with store.transaction() as session:
        for row in session.scalars(select(SentAlert).where(SentAlert.id.in_(list(ids)))):
            row.sent_at = now


# --- the sweep -----------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    found: int = 0  # new alerts recorded
    messages: int = 0  # messages taken by at least one address
    failed: int = 0  # messages no address took (tried again at the next sweep)
    digest_waiting: int = 0  # alerts kept for the daily digest
    skipped: str = ""  # why the sweep did nothing


def place_of(settings: Settings) -> Place:
    return Place(settings.web_url, settings.timezone)


_sweeping = threading.Lock()


def sweep(
    store: Store, settings: Settings, now: datetime, *, sender: Sender, redact: Callable[[str], str]
) -> SweepResult:
    """Look for what is alert-worthy since the last look, record it, and send what is due. Idempotent: a second
    sweep over the same facts records and sends nothing."""
    urls = settings.alert_url_list()
    if not urls:
        return SweepResult(skipped="no alert addresses (CAMPAIGN_ALERT_URLS is not set)")
    with _sweeping:
        if not _take_lease(store, now):
            return SweepResult(skipped="another sweep is under way")
        try:
            with store.transaction() as session:
                found = find(
                    session, place_of(settings), now, reports_dir=settings.reports_dir,
                    approval_hours=settings.alert_approval_hours, listen_lag_seconds=settings.listen_lag_alert_seconds,
                )  # fmt: skip
                new = _record(session, [_redacted(a, redact) for a in found], now)
            result = SweepResult(found=len(new))
            if settings.alert_digest_daily:
                _send_digest(store, settings, now, result, sender=sender, redact=redact)
            else:
                _send_each(store, urls, now, result, sender=sender, redact=redact)
            return result
        finally:
            _drop_lease(store)


def _redacted(alert: Alert, redact: Callable[[str], str]) -> Alert:
    return Alert(alert.key, alert.kind, redact(alert.title), redact(alert.body))


def _split(row: SentAlert) -> tuple[str, str]:
    title, _, body = row.summary.partition("\n\n")
    return title, body


def _send_each(
    store: Store,
    urls: Sequence[str],
    now: datetime,
    result: SweepResult,
    *,
    sender: Sender,
    redact: Callable[[str], str],
) -> None:
    by_kind: dict[str, list[SentAlert]] = {}
    for row in _waiting(store, now, everything=False):
        by_kind.setdefault(row.kind, []).append(row)
    for kind, rows in by_kind.items():
        batches = [rows] if len(rows) > GROUP_OVER else [[row] for row in rows]
        for batch in batches:
            title, body = _split(batch[0]) if len(batch) == 1 else _grouped(kind, batch)
            delivered = send(urls, title, body, sender=sender, redact=redact)
            if any(d.sent for d in delivered):
                _mark_sent(store, [row.id for row in batch], now)
                result.messages += 1
            else:
                result.failed += 1
                log.error("alert not sent to any address (tried again at the next sweep): %s; %s", title,
                          "; ".join(f"{d.url}: {d.problem}" for d in delivered))  # fmt: skip


_KIND_WORDS = {
    "failed": "posts failed",
    "missed": "posts were missed",
    "duplicate": "posts went out twice",
    "collector": "collectors are failing",
    "listening": "listeners on Bluesky are behind",
    "approval": "posts still wait for approval",
    "report": "weekly reports were written",
}


def _grouped(kind: str, rows: Sequence[SentAlert]) -> tuple[str, str]:
    """Many alerts of one kind at once (a scheduler that was down misses many posts): one message."""
    title = f"{len(rows)} {_KIND_WORDS.get(kind, f'{kind} alerts')}"
    return title, "\n\n".join(row.summary for row in rows)


def _send_digest(
    store: Store,
    settings: Settings,
    now: datetime,
    result: SweepResult,
    *,
    sender: Sender,
    redact: Callable[[str], str],
) -> None:
    zone = ZoneInfo(settings.timezone)
    local = now.astimezone(zone)
    waiting = _waiting(store, now, everything=True)
    result.digest_waiting = len(waiting)
    with store.transaction() as session:
        last = session.get(Setting, DIGEST_KEY)
        done_today = last is not None and last.value == local.date().isoformat()
    if not waiting or done_today or local.time() < DIGEST_AT:
        return
    title = f"Campaign alerts: {len(waiting)} since the last digest"
    body = "\n\n----\n\n".join(row.summary for row in waiting)
    delivered = send(settings.alert_url_list(), title, body, sender=sender, redact=redact)
    if not any(d.sent for d in delivered):
        result.failed += 1
        log.error("alert digest not sent: %s", "; ".join(f"{d.url}: {d.problem}" for d in delivered))
        return
    _mark_sent(store, [row.id for row in waiting], now)
    with store.transaction() as session:
        row = session.get(Setting, DIGEST_KEY)
        if row is None:
            session.add(Setting(key=DIGEST_KEY, value=local.date().isoformat(), updated_at=now))
        else:
            row.value, row.updated_at = local.date().isoformat(), now
    result.messages += 1
    result.digest_waiting = 0


def send_now(
    store: Store, settings: Settings, alert: Alert, now: datetime, *, sender: Sender, redact: Callable[[str], str]
) -> list[Delivered]:
    """Send one alert at once, digest or not (its process has no beat to send it later, or it says that none is
    running), and record it as sent so the sweep does not send it again. Nothing when it was sent before."""
    alert = _redacted(alert, redact)
    with store.transaction() as session:
        if not _record(session, [alert], now):
            return []
        row_id = session.scalar(select(SentAlert.id).where(SentAlert.key == alert.key[:200]))
    delivered = send(settings.alert_url_list(), alert.title, alert.body, sender=sender, redact=redact)
    if any(d.sent for d in delivered) and row_id is not None:
        _mark_sent(store, [row_id], now)
    return delivered


def send_test(settings: Settings, now: datetime, *, sender: Sender, redact: Callable[[str], str]) -> list[Delivered]:
    """One test message to each address; says which took it."""
    place = place_of(settings)
    body = "\n".join(
        [
            "This is a test alert from the campaign scheduler: if you can read it, alerts reach you here.",
            f"Sent on {now.astimezone(ZoneInfo(settings.timezone)):%a %d %b %Y %H:%M %Z} by `campaign alerts test`.",
            f"The workspace: {place.page('')}",
        ]
    )
    return send(settings.alert_url_list(), "Test alert from the campaign scheduler", body, sender=sender, redact=redact)
