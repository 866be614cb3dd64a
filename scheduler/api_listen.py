"""The application API's listening: Bluesky's repository stream followed as it happens (scheduler/listening.py),
and how far behind it each campaign's listener is."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from content_calendar.model import CalendarError
from platforms.bluesky.firehose import read_frames, resolve_handles
from scheduler.api_base import ApiBase
from scheduler.collecting import campaigns_to_collect, collect_mentions
from scheduler.demo_flag import is_demo
from scheduler.errors import Refused
from scheduler.listening import PLATFORM, Listener, ListeningView, ListenOptions, ListenTotals, listening

log = logging.getLogger("campaign.listen")

IDLE_SECONDS = 1.0  # no frame for this long: the listener is at the stream's head
BUSY_RETRY_SECONDS = 5.0  # another listener holds the schedule: ask again this often


class ListeningApi(ApiBase):
    def listener(self, *, actor: str, relay: str | None = None, options: ListenOptions | None = None) -> Listener:
        """A listener for every campaign folder, on `relay` (default: BLUESKY_RELAY)."""
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

        def backfill(since: datetime) -> None:
            """A gap longer than the relay's replay window: hashtag search reads it back now."""
            for campaign in campaigns:
                try:
                    outcomes = collect_mentions(
                        store, campaign, PLATFORM, adapters, clock=self.clock, owner=f"{actor}:backfill",
                        since=since, force=True, redact=self.wiring.redact, actor=actor,
                    )  # fmt: skip
                except Exception as error:  # the listener goes on; beat's search runs try again
                    log.warning("reading back %s by search failed: %s", campaign.slug, self.wiring.redact(str(error)))
                    continue
                for outcome in outcomes:
                    log.info("read back by search: %s", outcome.describe())

        return Listener(store, campaigns, own, source=source, clock=self.clock, options=options, backfill=backfill)

    def listen(
        self,
        *,
        actor: str,
        stop: Callable[[], bool],
        relay: str | None = None,
        on_start: Callable[[Listener, int | None], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> ListenTotals:
        """Follow the relay's stream until `stop()` says so (`campaign listen`, and `campaign run`'s listener).
        While another listener holds the schedule (one on another machine, or one whose container was replaced
        and whose hold has not run out yet), waits for it, saying so once through `on_wait`."""
        listener = self.listener(actor=actor, relay=relay)
        said = False
        while True:
            try:
                cursor = listener.start()
                break
            except RuntimeError as busy:
                if not said and on_wait is not None:
                    on_wait(f"Another listener is running on this schedule ({busy}): waiting until it stops.")
                said = True
                deadline = time.monotonic() + BUSY_RETRY_SECONDS
                while time.monotonic() < deadline:
                    if stop():
                        return listener.totals
                    time.sleep(0.2)
        if on_start is not None:
            on_start(listener, cursor)
        source = listener.source
        return listener.run(lambda seq: read_frames(source, seq, idle=IDLE_SECONDS), stop=stop)

    def listening(self, campaign: str | None = None) -> list[ListeningView]:
        return listening(self.wiring.store, self.clock.now(), campaign)
