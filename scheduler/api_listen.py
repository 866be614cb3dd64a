"""The application API's listening: Bluesky's repository stream followed as it happens (scheduler/listening.py),
and how far behind it each campaign's listener is."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from content_calendar.model import CalendarError, Campaign
from scheduler.api_base import ApiBase
from scheduler.collecting import campaigns_to_collect, collect_mentions
from scheduler.demo_flag import is_demo
from scheduler.errors import Refused
from scheduler.listening_state import PLATFORM, ListeningView, listening

if TYPE_CHECKING:  # the listener itself (the stream's decoder) is loaded only by the process that listens
    from scheduler.listening import Listener, ListenOptions, ListenTotals

log = logging.getLogger("campaign.listen")

IDLE_SECONDS = 1.0  # no frame for this long: the listener is at the stream's head
BUSY_RETRY_SECONDS = 5.0  # another listener holds the schedule (or a search the campaign): ask again this often
BACKFILL_TRIES = 6  # a gap's read back by search is asked this many times while another search runs


class ListeningApi(ApiBase):
    def listener(self, *, actor: str, relay: str | None = None, options: ListenOptions | None = None) -> Listener:
        """A listener for every campaign folder, on `relay` (default: BLUESKY_RELAY)."""
        from platforms.bluesky.firehose import resolve_handles
        from scheduler.listening import Listener, ListenOptions

        source = (relay or self.settings.bluesky_relay).strip()
        if not source:
            raise Refused(
                "Listening needs a relay to follow: set BLUESKY_RELAY (for the public network: https://bsky.network)."
            )
        store = self.wiring.store
        if is_demo(store):
            raise Refused("This is a demo workspace (made-up data), so nothing is listened to here.")
        try:
            campaigns = campaigns_to_collect(self.settings.campaigns_dir)
        except CalendarError as error:  # pragma: no cover - only a named campaign raises
            raise Refused(str(error)) from None
        if not campaigns:
            raise Refused(f"There is no campaign to listen for in {self.settings.campaigns_dir} (no campaign.yaml).")
        adapters = self.wiring.adapters
        own = {c.slug: adapters.own_accounts(c, PLATFORM) for c in campaigns}
        if self.settings.bluesky_configured:  # the stream names accounts by DID: ours and allow-listed ones too
            handles = [*(h for c in campaigns for h in c.organisation_accounts), *(h for v in own.values() for h in v)]
            dids = resolve_handles(self.settings.bluesky_service, handles)

            def with_dids(names: Sequence[str]) -> list[str]:
                return [*names, *(dids[n.lower()] for n in names if n.lower() in dids)]

            own = {slug: with_dids(names) for slug, names in own.items()}
            campaigns = [replace(c, organisation_accounts=tuple(with_dids(c.organisation_accounts))) for c in campaigns]
        options = options or ListenOptions(replay_window=timedelta(hours=self.settings.listen_replay_hours))

        def backfill(since: datetime) -> dict[str, str]:
            """A gap longer than the relay's replay window: hashtag search reads it back now."""
            return {c.slug: self._read_back(c, since, actor) for c in campaigns}

        return Listener(store, campaigns, own, source=source, clock=self.clock, options=options, backfill=backfill)

    def _read_back(self, campaign: Campaign, since: datetime, actor: str) -> str:
        """One campaign's mentions since `since` read back by hashtag search, now: what came of it, in plain words.
        While another search of the campaign runs (beat's), asked again a few times."""
        when = f"{since:%Y-%m-%d %H:%M} UTC"
        for attempt in range(BACKFILL_TRIES):
            try:
                outcomes = collect_mentions(
                    self.wiring.store, campaign, PLATFORM, self.wiring.adapters, clock=self.clock,
                    owner=f"{actor}:backfill", since=since, force=True, redact=self.wiring.redact, actor=actor,
                )  # fmt: skip
            except Exception as error:  # the listener goes on; beat's searches carry on from where they are
                log.warning("reading back %s by search failed: %s", campaign.slug, self.wiring.redact(str(error)))
                return f"the mentions since {when} could not be read back by search"
            for outcome in outcomes:
                log.info("read back by search: %s", outcome.describe())
            if attempt + 1 < BACKFILL_TRIES and any(o.outcome == "busy" for o in outcomes):
                time.sleep(BUSY_RETRY_SECONDS)
                continue
            break
        stored = sum(o.result.stored for o in outcomes if o.outcome == "ok")
        if all(o.outcome == "ok" for o in outcomes):
            return f"hashtag search read back the mentions since {when} ({stored} new)"
        why = "; ".join(dict.fromkeys(_why_not(o.outcome, o.detail) for o in outcomes if o.outcome != "ok"))
        return f"the mentions since {when} were not all read back by search ({why})"

    def listen(
        self,
        *,
        actor: str,
        stop: Callable[[], bool],
        relay: str | None = None,
        supervised: bool = False,
        on_start: Callable[[str, bool, datetime | None], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> ListenTotals:
        """Follow the relay's stream until `stop()` says so (`campaign listen`, and `campaign run`'s listener).
        While another listener holds the schedule (one on another machine, or one whose container was replaced
        and whose hold has not run out yet), waits for it, saying so once through `on_wait`. Once started,
        `on_start(relay, resumed, stopped_at)`: whether it carries on from a stored position, and the time of the
        last event it had written (None when unknown).

        `supervised` (under `campaign run`, or a container that is started again whenever it ends): when there
        is nothing to listen to (no relay set, no campaign, a demo workspace), says why through `on_wait` and
        waits until `stop()` rather than refusing: ending would only be started again, and again."""
        from platforms.bluesky.firehose import read_frames
        from scheduler.listening import HeldElsewhere, ListenTotals

        try:
            listener = self.listener(actor=actor, relay=relay)
        except Refused as refused:
            if not supervised:
                raise
            if on_wait is not None:
                on_wait(f"Not listening: {refused}")
            _wait(stop, None)
            return ListenTotals()
        said = False
        while True:
            try:
                cursor = listener.start()
                break
            except HeldElsewhere:
                if not said and on_wait is not None:
                    on_wait("Another listener is running on this schedule: waiting until it stops.")
                said = True
                if _wait(stop, BUSY_RETRY_SECONDS):
                    return listener.totals
        if on_start is not None:
            on_start(listener.source, cursor is not None, listener.position.event_time)
        source = listener.source
        return listener.run(lambda seq: read_frames(source, seq, idle=IDLE_SECONDS), stop=stop)

    def listening(self, campaign: str | None = None) -> list[ListeningView]:
        return listening(self.wiring.store, self.clock.now(), campaign)


def _wait(stop: Callable[[], bool], seconds: float | None) -> bool:
    """Wait `seconds` (None: for ever) or until `stop()` says so; whether it did."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        if stop():
            return True
        time.sleep(0.2)
    return stop()


def _why_not(outcome: str, detail: str) -> str:
    if outcome == "busy":
        return "another search of the campaign was running"
    if outcome == "rate_limited":
        return "the platform asked us to slow down"
    return detail or outcome
