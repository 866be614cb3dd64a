"""Hashtag mentions read from two instances that federate with each other: one Mention per ActivityPub uri,
paging with min_id, the cursor, late-arriving statuses, replies resolved to their parent's uri."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from platforms.mastodon import MastodonAdapter
from scheduler.collection import MentionPolicy, store_mentions
from scheduler.collection_models import MentionRecord
from scheduler.db import Store
from tests.mastodon_server import MastodonControl
from tests.support.mastodon_fixtures import MastodonFederation


def _host(control: MastodonControl) -> str:
    return control.base_url.split("://", 1)[1]


def _adapter(federation: MastodonFederation, **options: object) -> MastodonAdapter:
    ours = federation.a.create_account("campaign")
    return MastodonAdapter(ours.base_url, ours.token, watched_instances=[federation.b.base_url], **options)  # type: ignore[arg-type]


def _local_id(control: MastodonControl, uri: str) -> str:
    return next(s["id"] for s in control.statuses() if s["uri"] == uri)


def test_the_same_status_seen_on_two_instances_is_one_mention(mastodon_federation: MastodonFederation) -> None:
    a, b = mastodon_federation.instances
    since = datetime.now(UTC) - timedelta(minutes=1)
    a.create_account("survivor")
    b.create_account("ally")
    adapter = _adapter(mastodon_federation)
    first = a.post_as("survivor", "Speaking out today. #ItsNotOK")
    a.post_as("survivor", "Only for followers #ItsNotOK", visibility="private")
    mastodon_federation.wait_for_deliveries(timeout=30)
    reply = b.post_as(
        "ally", "Standing with you & <3 #itsnotok", in_reply_to_id=_local_id(b, first["uri"]), language="en"
    )
    b.post_as("ally", "Unrelated #SomethingElse")
    mastodon_federation.wait_for_deliveries(timeout=30)
    assert _local_id(a, reply["uri"]) and _local_id(b, first["uri"])  # each status is on both instances

    page = adapter.search_mentions(["#ItsNotOK", "#ItsNotOk"], since=since, cursor=None)

    assert [m.uri for m in page.mentions] == [first["uri"], reply["uri"]]
    by_uri = {m.uri: m for m in page.mentions}
    survivor, ally = by_uri[first["uri"]], by_uri[reply["uri"]]
    assert survivor.seen_on == a.base_url and survivor.url == first["url"]
    assert survivor.author_handle == f"survivor@{_host(a)}"
    assert survivor.author_id.startswith(f"{a.base_url}/ap/users/")  # the account's ActivityPub uri
    assert survivor.text == "Speaking out today. #ItsNotOK"
    assert survivor.tags == ("ItsNotOK",)
    assert survivor.reply_count == 1
    assert ally.author_handle == f"ally@{_host(b)}"
    assert ally.text == "Standing with you & <3 #itsnotok"  # HTML stripped, entities decoded
    assert ally.in_reply_to_uri == first["uri"]
    assert page.cursor is not None


def test_paging_with_min_id_and_the_cursor_reads_each_status_once(mastodon_federation: MastodonFederation) -> None:
    b = mastodon_federation.b
    b.create_account("ally")
    adapter = _adapter(mastodon_federation, cursor_overlap=timedelta(0))
    since = datetime.now(UTC) - timedelta(minutes=1)
    b.post_as("ally", "Before the window #ItsNotOK", created_at=since - timedelta(hours=1))
    posted = [b.post_as("ally", f"Mention {n} #ItsNotOK")["uri"] for n in range(45)]
    mastodon_federation.wait_for_deliveries(timeout=30)  # b relays them to a, our instance, read as well

    first = adapter.search_mentions(["ItsNotOK"], since=since, cursor=None)
    assert [m.uri for m in first.mentions] == posted  # two pages of 40 and 5, oldest first
    tag_requests = b.request_log(method="GET", path="/api/v1/timelines/tag/ItsNotOK")
    assert [r["query"].get("limit") for r in tag_requests] == [["40"], ["40"]]

    assert adapter.search_mentions(["ItsNotOK"], since=since, cursor=first.cursor).mentions == []
    newest = b.post_as("ally", "One more #ItsNotOK")["uri"]
    mastodon_federation.wait_for_deliveries(timeout=30)
    third = adapter.search_mentions(["ItsNotOK"], since=since, cursor=first.cursor)
    assert [m.uri for m in third.mentions] == [newest]


def _late_status_read(federation: MastodonFederation, overlap: timedelta) -> bool:
    """Read #ItsNotOK on b, then let a status written two minutes ago arrive there (its id on b comes from
    its creation time, below what was read), read again from the cursor: was it seen?"""
    a, b = federation.instances
    for instance in (a, b):
        instance.reset()  # no peers: a's statuses reach b only when the test says so
    a.create_account("survivor")
    b.create_account("ally")
    now = datetime.now(UTC)
    late = a.post_as("survivor", "Written two minutes ago #ItsNotOK", created_at=now - timedelta(minutes=2))
    b.post_as("ally", "Now #ItsNotOK")
    reader = MastodonAdapter(a.base_url, "a-token-public-timelines-do-not-need", cursor_overlap=overlap)
    since = now - timedelta(minutes=5)
    page = reader.search_mentions_on([b.base_url], ["ItsNotOK"], since=since, cursor=None)
    assert [m.text for m in page.mentions] == ["Now #ItsNotOK"]
    a.federate(late["id"], [b.base_url])
    a.wait_for_deliveries(timeout=30)
    later = reader.search_mentions_on([b.base_url], ["ItsNotOK"], since=since, cursor=page.cursor)
    return late["uri"] in {m.uri for m in later.mentions}


def test_a_status_that_arrives_late_is_still_read_thanks_to_the_cursor_overlap(
    mastodon_federation: MastodonFederation,
) -> None:
    assert not _late_status_read(mastodon_federation, timedelta(0))  # why the overlap exists
    assert _late_status_read(mastodon_federation, timedelta(minutes=10))


def test_a_burst_larger_than_one_call_is_read_over_several_calls_with_the_overlap_on(
    mastodon_federation: MastodonFederation,
) -> None:
    """Awareness week: more statuses inside the overlap window than one call reads must not pin the cursor."""
    b = mastodon_federation.b
    b.create_account("ally")
    adapter = _adapter(mastodon_federation, mention_pages=1, cursor_overlap=timedelta(minutes=10))
    since = datetime.now(UTC) - timedelta(minutes=1)
    posted = [b.post_as("ally", f"Burst {n} #ItsNotOK")["uri"] for n in range(95)]
    seen: set[str] = set()
    cursor = None
    for _ in range(4):  # 40 a call: three calls read 95, the fourth finds nothing new
        page = adapter.search_mentions(["ItsNotOK"], since=since, cursor=cursor)
        seen.update(m.uri for m in page.mentions)
        cursor = page.cursor
    assert seen == set(posted)


def test_an_account_is_known_by_its_uri_never_by_the_profile_url_it_claims(
    mastodon_federation: MastodonFederation, tmp_path: Path
) -> None:
    """A remote server sets an account's profile `url` to anything: pointing it at an allow-listed organisation
    must not make the account that organisation (its words would be kept and quoted in reports)."""
    a, b = mastodon_federation.instances
    since = datetime.now(UTC) - timedelta(minutes=1)
    a.create_account("napac")
    a.create_account("impostor", url=f"{a.base_url}/@napac")
    real = a.post_as("napac", "Call us #ItsNotOK")
    fake = a.post_as("impostor", "Send your story to this number #ItsNotOK")
    mastodon_federation.wait_for_deliveries(timeout=30)

    # Read where the impostor is a local account, and where it is a remote one (its claimed url copied along).
    reader = MastodonAdapter("https://our-instance.invalid", "public-timelines-need-no-token")
    for number, instance in enumerate((a, b)):
        mentions = reader.search_mentions_on([instance.base_url], ["ItsNotOK"], since=since, cursor=None).mentions
        by_uri = {m.uri: m for m in mentions}
        impostor, organisation = by_uri[fake["uri"]], by_uri[real["uri"]]
        assert impostor.author_handle == f"impostor@{_host(a)}"
        assert impostor.author_id.startswith(f"{a.base_url}/ap/users/")  # its ActivityPub uri
        assert organisation.author_handle == f"napac@{_host(a)}"
        assert organisation.author_id.startswith(f"{a.base_url}/ap/users/")
        assert impostor.author_id != organisation.author_id

        store = Store(f"sqlite:///{tmp_path / f'read-on-{number}.db'}")
        policy = MentionPolicy.build("c", ["#ItsNotOK"], organisation_accounts=[f"napac@{_host(a)}"])
        assert store_mentions(store, policy, mentions).stored == 2
        with store.transaction() as session:
            kept = session.execute(
                select(MentionRecord.author_handle, MentionRecord.text).where(MentionRecord.allow_listed)
            ).all()
        assert kept == [(f"napac@{_host(a)}", "Call us #ItsNotOK")]  # the impostor's words are not kept
