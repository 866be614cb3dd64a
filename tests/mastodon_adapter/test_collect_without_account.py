"""Collection with no Mastodon account still reads the public hashtag timelines of the instances the campaign lists
(README: "Mastodon hashtag timelines of the instances in campaign.yaml"), anonymously; our own instance, unknown
without an account, is not read, and `collect` says which instances were read that way. Against the Mastodon
test server, with every MASTODON_* setting empty.

The test server speaks plain HTTP and campaign.yaml takes only https:// instances, so the collector is given the
campaign as the loader makes it (as tests/reports/test_collect_e2e.py does); the words `collect` prints are
checked from a campaign.yaml that lists instances (nothing is read there)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from content_calendar.model import Campaign
from scheduler.api import Api
from scheduler.clock import FixedClock
from scheduler.collecting import collect_mentions
from scheduler.collection_models import MentionRecord
from scheduler.db import Store
from scheduler.settings import load_settings
from scheduler.wiring import Adapters
from tests.mastodon_server import MastodonControl
from tests.support.engine import write_campaign

TAG_PATH = "/api/v1/timelines/tag/"
EMPTY = {
    name: "" for name in ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN")
}


def test_mentions_arrive_from_the_listed_instance_without_an_account(mastodon: MastodonControl, tmp_path: Path) -> None:
    settings = load_settings({**EMPTY, "CAMPAIGN_DATA_DIR": str(tmp_path / "data")}, dotenv_path=tmp_path / "no.env")
    assert not settings.mastodon_configured
    campaign = Campaign(slug="act-on-iicsa", name="Act on IICSA", directory=tmp_path, hashtags=("#ActOnIICSA",),
                        mastodon_instances=(mastodon.base_url,))  # fmt: skip
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    mastodon.create_account("survivor")
    mastodon.create_account("friend")
    first = mastodon.post_as("survivor", "Standing with everyone who spoke up #ActOnIICSA")
    mastodon.post_as("friend", "And the report must be acted on #ActOnIICSA", in_reply_to_id=first["id"])
    mastodon.post_as("friend", "Nothing to do with the campaign")
    clock = FixedClock(mastodon.now() + timedelta(minutes=1))

    def run() -> int:
        [outcome] = collect_mentions(store, campaign, "mastodon", Adapters(settings), clock=clock, owner="beat")
        assert (outcome.key.source, outcome.outcome) == (mastodon.base_url, "ok"), outcome.describe()
        return outcome.result.stored

    assert run() == 2
    with store.transaction() as session:
        seen = sorted(session.scalars(select(MentionRecord.seen_on)))
    assert seen == [mastodon.base_url] * 2
    timeline = [r for r in mastodon.request_log(method="GET") if str(r["path"]).startswith(TAG_PATH)]
    assert timeline and {r["account"] for r in timeline} == {None}  # anonymous: there is no account to use

    # The next run goes on from where this one stopped: only what is new is stored.
    mastodon.post_as("survivor", "One more #ActOnIICSA")
    clock.advance(timedelta(minutes=5))
    assert run() == 1


def test_without_a_listed_instance_mastodon_collection_is_skipped_and_says_why(tmp_path: Path) -> None:
    settings = load_settings({**EMPTY, "CAMPAIGN_DATA_DIR": str(tmp_path / "data")}, dotenv_path=tmp_path / "no.env")
    campaign = Campaign(slug="act-on-iicsa", name="Act on IICSA", directory=tmp_path, hashtags=("#ActOnIICSA",))
    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    [outcome] = collect_mentions(store, campaign, "mastodon", Adapters(settings), clock=FixedClock(datetime.now(UTC)),
                                 owner="beat")  # fmt: skip
    assert outcome.outcome == "skipped"
    assert outcome.detail == (
        "Mastodon has no credentials (set MASTODON_API_BASE_URL and MASTODON_ACCESS_TOKEN) and campaign.yaml lists "
        "no mastodon_instances"
    )


def test_collect_says_which_instances_are_read_without_an_account(tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns"
    folder = write_campaign(campaigns)
    with (folder / "campaign.yaml").open("a", encoding="utf-8") as handle:
        handle.write('mastodon_instances: ["https://mastodon.social", "https://mastodon.online/"]\n')
    write_campaign(campaigns, "quiet")  # lists none
    settings = load_settings({**EMPTY, "CAMPAIGN_DATA_DIR": str(tmp_path / "data"),
                              "CAMPAIGN_CAMPAIGNS_DIR": str(campaigns)}, dotenv_path=tmp_path / "no.env")  # fmt: skip
    app = Api.from_settings(settings)
    try:
        assert app.collection_notices() == [
            "Bluesky has no credentials (set BLUESKY_HANDLE and BLUESKY_APP_PASSWORD): its collectors are skipped.",
            "Mastodon has no credentials (set MASTODON_API_BASE_URL and MASTODON_ACCESS_TOKEN): read without an "
            "account: the public hashtag timelines of mastodon.social, mastodon.online (mastodon_instances in "
            "campaign.yaml); our own posts' engagement there is skipped.",
        ]
        assert app.collection_notices(["mastodon"], campaign="quiet") == [
            "Mastodon has no credentials (set MASTODON_API_BASE_URL and MASTODON_ACCESS_TOKEN): its collectors are "
            "skipped."
        ]
    finally:
        app.close()
