"""Reading hashtag mentions leaves the account's API allowance to posting: public timelines and reply parents are
read anonymously; an instance that shows its timelines only to signed-in users is read with our token but never
down to the reserve posting needs; a collection run makes a bounded number of requests; reply parents are looked
up 20 a request. Against the Mastodon test server (its request log says who asked what)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from content_calendar.model import Campaign
from platforms.base import PermanentError
from platforms.mastodon import MastodonAdapter
from scheduler.clock import FixedClock
from scheduler.collecting import collect_mentions
from scheduler.db import Store
from scheduler.settings import load_settings
from scheduler.wiring import Adapters
from tests.mastodon_server import MastodonControl, TestAccount
from tests.support.mastodon_fixtures import MastodonFederation

TAG_PATH = "/api/v1/timelines/tag/ItsNotOK"


def reads(control: MastodonControl, path: str) -> list[dict[str, object]]:
    return [r for r in control.request_log(method="GET") if str(r["path"]).startswith(path)]


def at_window_start(control: MastodonControl) -> datetime:
    """Move the server's clock to just after the start of a 5-minute rate-limit window, so a test's requests
    all fall in one window."""
    now = control.now()
    start = datetime.fromtimestamp((int(now.timestamp()) // 300 + 1) * 300 + 1, tz=UTC)
    return control.set_clock(start)


def test_public_timelines_and_reply_parents_are_read_without_our_token_and_parents_in_batches(
    mastodon: MastodonControl, account: TestAccount
) -> None:
    mastodon.create_account("survivor")
    since = mastodon.now() - timedelta(minutes=1)
    parents = [mastodon.post_as("survivor", f"A thought without the tag ({n})") for n in range(25)]
    replies = [
        mastodon.post_as("survivor", f"Adding the tag #ItsNotOK ({n})", in_reply_to_id=parent["id"])
        for n, parent in enumerate(parents)
    ]
    adapter = MastodonAdapter(account.base_url, account.token)
    page = adapter.search_mentions(["ItsNotOK"], since=since, cursor=None)

    assert {m.uri: m.in_reply_to_uri for m in page.mentions} == {
        reply["uri"]: parent["uri"] for reply, parent in zip(replies, parents, strict=True)
    }
    timeline = reads(mastodon, TAG_PATH)
    batched = [r for r in reads(mastodon, "/api/v1/statuses") if r["path"] == "/api/v1/statuses"]
    one_by_one = [r for r in reads(mastodon, "/api/v1/statuses/")]
    assert len(timeline) == 1 and len(batched) == 2 and one_by_one == []  # 25 parents: 20 + 5
    assert {r["account"] for r in timeline + batched} == {None}  # anonymous: the token's allowance is untouched
    assert [len(r["query"]["id[]"]) for r in batched] == [20, 5]  # type: ignore[index]


def test_an_instance_that_hides_its_timelines_is_read_with_our_token_but_never_into_the_posting_reserve(
    mastodon: MastodonControl, account: TestAccount
) -> None:
    mastodon.configure(topic_feed_access="authenticated")
    mastodon.create_account("survivor")
    now = at_window_start(mastodon)
    for n in range(200):
        mastodon.post_as("survivor", f"Mention {n} #ItsNotOK", created_at=now - timedelta(minutes=200 - n))
    reserve = 60
    # Posting has already used most of this window: 65 requests are left.
    mastodon.set_rate_count("throttle_per_token_api", 300 - 65, token=account.token)
    adapter = MastodonAdapter(account.base_url, account.token, token_reserve=reserve, mention_pages=10,
                              mention_requests=100)  # fmt: skip
    budget = adapter.read_budget()
    page = adapter.search_mentions(["ItsNotOK"], since=now - timedelta(hours=4), cursor=None, budget=budget)

    assert 0 < len(page.mentions) < 200 and "kept for posting" in budget.stopped
    timeline = reads(mastodon, TAG_PATH)
    assert timeline[0]["account"] is None and timeline[0]["status"] == 422  # anonymous first: refused
    assert {r["account"] for r in timeline[1:]} == {"campaign"}
    # What posting still has: exactly the reserve (this check itself takes one more request).
    client = account.client()
    client.account_verify_credentials()
    assert client.ratelimit_remaining == reserve - 1
    # The rest is read by a later run, from the cursor, once the window has rolled over (the server's clock
    # jumps here, so the later run is a new adapter: this one's client still holds the old window's reset).
    mastodon.advance_clock(300)
    later = MastodonAdapter(account.base_url, account.token, token_reserve=reserve, mention_pages=10)
    rest = later.search_mentions(["ItsNotOK"], since=now - timedelta(hours=4), cursor=page.cursor)
    assert len({m.uri for m in page.mentions} | {m.uri for m in rest.mentions}) == 200  # the overlap re-reads a few


def test_a_collection_run_makes_a_bounded_number_of_requests_and_the_next_goes_on(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    mastodon.create_account("survivor")
    now = mastodon.now()
    for n in range(130):
        mastodon.post_as("survivor", f"Mention {n} #ItsNotOK", created_at=now - timedelta(minutes=130 - n))
    settings = load_settings({"CAMPAIGN_DATA_DIR": str(tmp_path / "data"), "MASTODON_API_BASE_URL": account.base_url,
                              "MASTODON_ACCESS_TOKEN": account.token}, dotenv_path=tmp_path / "none.env")  # fmt: skip
    campaign = Campaign(slug="sasvaw-week", name="SASVAW", directory=tmp_path, hashtags=("#ItsNotOK",))
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    clock = FixedClock(now)

    def run() -> tuple[int, int]:
        before = len(reads(mastodon, TAG_PATH))
        adapters = Adapters(settings, mastodon_options={"mention_requests": 3})
        [outcome] = collect_mentions(store, campaign, "mastodon", adapters, clock=clock, owner="beat")
        assert outcome.outcome == "ok", outcome.describe()
        return outcome.result.stored, len(reads(mastodon, TAG_PATH)) - before

    assert run() == (120, 3)  # three pages of 40, then this run stops
    clock.advance(timedelta(minutes=5))
    stored, requests = run()
    assert stored == 10 and requests <= 3
    assert {r["account"] for r in reads(mastodon, TAG_PATH)} == {None}


def test_a_watched_instance_that_hides_its_timelines_is_a_clear_permanent_failure(
    mastodon_federation: MastodonFederation,
) -> None:
    a, b = mastodon_federation.instances
    b.configure(topic_feed_access="authenticated")
    ours = a.create_account("campaign")
    adapter = MastodonAdapter(ours.base_url, ours.token)
    with pytest.raises(PermanentError, match=r"only to its own signed-in users.*remove it from mastodon_instances"):
        adapter.search_mentions_on([b.base_url], ["ItsNotOK"], since=datetime.now(UTC), cursor=None)
