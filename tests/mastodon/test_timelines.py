"""Hashtag timelines as our collector reads them: third-party content, case-insensitive tags, min_id paging
(also from a datetime), Link headers, and the same status seen on two federated instances."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.mastodon.helpers import poll_until, raw
from tests.mastodon_server import MastodonControl, TestAccount
from tests.support.mastodon_fixtures import MastodonFederation

pytestmark = pytest.mark.integration


def _populate(mastodon: MastodonControl, count: int) -> list[dict]:
    for name in ("survivor_voices", "charity_hq", "reporter"):
        mastodon.create_account(name)
    spellings = ["#ItsNotOK", "#itsnotok", "#ITSNOTOK", "#ItsNotOk"]
    posted = []
    for index in range(count):
        author = ("survivor_voices", "charity_hq", "reporter")[index % 3]
        posted.append(mastodon.post_as(author, f"Post {index} {spellings[index % 4]}"))
    # not on the public tag timeline: other tags, unlisted, private, direct
    mastodon.post_as("reporter", "Different tag #itsnotokay")
    mastodon.post_as("reporter", "Quiet #ItsNotOK", visibility="unlisted")
    mastodon.post_as("reporter", "Followers #ItsNotOK", visibility="private")
    mastodon.post_as("reporter", "Direct #ItsNotOK", visibility="direct")
    return posted


def test_tag_timeline_pages_forward_with_min_id(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    posted = _populate(mastodon, 45)
    client = mastodon_account.client()

    first = client.timeline_hashtag("itsnotok", min_id="0", limit=40)
    assert [s.id for s in first] == [p["id"] for p in reversed(posted[:40])]  # oldest 40, newest first
    second = client.timeline_hashtag("ItsNotOK", min_id=first[0].id, limit=40)
    assert [s.id for s in second] == [p["id"] for p in reversed(posted[40:])]
    assert client.timeline_hashtag("ITSNOTOK", min_id=second[0].id, limit=40) == []

    newest = client.timeline_hashtag("itsnotok")  # default limit 20, newest first
    assert [s.id for s in newest] == [p["id"] for p in reversed(posted[25:])]
    older = client.fetch_next(newest)  # follows rel="next" (max_id)
    assert [s.id for s in older] == [p["id"] for p in reversed(posted[5:25])]
    newer = client.fetch_previous(older)  # follows rel="prev" (min_id)
    assert [s.id for s in newer] == [p["id"] for p in reversed(posted[25:45])]
    assert len(client.timeline_hashtag("itsnotok", limit=100)) == 40  # at most 40

    since = client.timeline_hashtag("itsnotok", since_id=posted[42]["id"])
    assert [s.id for s in since] == [posted[44]["id"], posted[43]["id"]]
    assert client.timeline_hashtag("itsnotokay")[0].content.startswith("<p>Different tag")


def test_link_headers_like_mastodon_and_none_on_an_empty_page(mastodon: MastodonControl) -> None:
    posted = _populate(mastodon, 3)
    base = mastodon.base_url
    answer = raw("GET", f"{base}/api/v1/timelines/tag/ItsNotOK?limit=2&local=true")
    assert [s["id"] for s in answer.json()] == [posted[2]["id"], posted[1]["id"]]
    assert answer.headers["Link"] == (
        f'<{base}/api/v1/timelines/tag/ItsNotOK?limit=2&local=true&max_id={posted[1]["id"]}>; rel="next", '
        f'<{base}/api/v1/timelines/tag/ItsNotOK?limit=2&local=true&min_id={posted[2]["id"]}>; rel="prev"'
    )
    empty = raw("GET", f"{base}/api/v1/timelines/tag/ItsNotOK?min_id={posted[2]['id']}")
    assert empty.json() == [] and "Link" not in empty.headers
    unknown = raw("GET", f"{base}/api/v1/timelines/tag/NeverUsed")
    assert unknown.status_code == 200 and unknown.json() == [] and "Link" not in unknown.headers


def test_min_id_from_a_datetime_selects_by_time(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    mastodon.create_account("witness")
    now = mastodon.now()
    times = [now - timedelta(hours=hours) for hours in (3, 2, 1)]
    posted = [mastodon.post_as("witness", f"At {t:%H:%M} #ItsNotOK", created_at=t) for t in times]
    assert [int(p["id"]) >> 16 for p in posted] == [int(t.timestamp() * 1000) for t in times]
    client = mastodon_account.client()
    recent = client.timeline_hashtag("itsnotok", min_id=now - timedelta(minutes=150))
    assert [s.id for s in recent] == [posted[2]["id"], posted[1]["id"]]
    assert [s.id for s in client.timeline_hashtag("itsnotok", max_id=now - timedelta(minutes=90))] == [
        posted[1]["id"],
        posted[0]["id"],
    ]


def test_any_all_none_and_media_filters(mastodon: MastodonControl) -> None:
    mastodon.create_account("poster")
    plain = mastodon.post_as("poster", "#ItsNotOK")
    both = mastodon.post_as("poster", "#ItsNotOK #SASVAW")
    other = mastodon.post_as("poster", "#itsnotokay")
    base = mastodon.base_url
    ids = lambda query: [s["id"] for s in raw("GET", f"{base}/api/v1/timelines/tag/ItsNotOK?{query}").json()]  # noqa: E731
    assert ids("any[]=itsnotokay") == [other["id"], both["id"], plain["id"]]
    assert ids("all[]=sasvaw") == [both["id"]]
    assert ids("none[]=SASVAW") == [plain["id"]]
    assert ids("only_media=true") == []
    assert ids("remote=true") == []


def test_the_same_status_on_two_instances_has_one_uri(mastodon_federation: MastodonFederation) -> None:
    a, b = mastodon_federation.instances
    campaign = a.create_account("campaign")
    client_a = campaign.client()
    ours = client_a.status_post("Awareness week starts #ItsNotOK", spoiler_text="Child sexual abuse")
    b.create_account("local_voice")
    theirs = b.post_as("local_voice", "Standing with survivors #itsnotok")
    mastodon_federation.wait_for_deliveries()

    reader_b = b.create_account("reader").client()
    seen_on_b = poll_until(
        lambda: reader_b.timeline_hashtag("ItsNotOK") if len(reader_b.timeline_hashtag("ItsNotOK")) == 2 else None
    )
    copy = next(s for s in seen_on_b if s.uri == ours.uri)
    assert copy.id != ours.id and copy.url == ours.url
    assert abs((int(copy.id) >> 16) - (int(ours.id) >> 16)) <= 1  # the copy's id keeps the original time
    assert copy.account.acct == f"campaign@{a.base_url.split('://')[1]}"
    assert copy.spoiler_text == "Child sexual abuse" and copy.content == ours.content

    seen_on_a = client_a.timeline_hashtag("itsnotok")
    assert {s.uri for s in seen_on_a} == {ours.uri, theirs["uri"]}
    assert next(s for s in seen_on_a if s.uri == theirs["uri"]).id != theirs["id"]
    # a collector reading both instances keeps one mention per uri
    assert len({s.uri for s in [*seen_on_a, *seen_on_b]}) == 2
    assert client_a.timeline_hashtag("itsnotok", local=True)[0].uri == ours.uri
    assert client_a.timeline_hashtag("itsnotok", remote=True)[0].uri == theirs["uri"]

    # engagement on A reaches B's copy when A delivers it again (a refetch)
    a.add_engagement(ours.id, favourites=2)
    a.federate(ours.id)
    mastodon_federation.wait_for_deliveries()
    assert reader_b.status(copy.id).favourites_count == 2

    client_a.status_delete(ours)
    mastodon_federation.wait_for_deliveries()
    assert [s.uri for s in reader_b.timeline_hashtag("ItsNotOK")] == [theirs["uri"]]


def test_only_public_statuses_federate(mastodon_federation: MastodonFederation) -> None:
    a, b = mastodon_federation.instances
    a.create_account("poster")
    a.post_as("poster", "quiet #ItsNotOK", visibility="unlisted")
    a.post_as("poster", "loud #ItsNotOK")
    mastodon_federation.wait_for_deliveries()
    copies = [s for s in b.statuses() if not s["local"]]
    assert [s["text"] for s in copies] == [""] and len(copies) == 1  # copies keep HTML only
    assert copies[0]["tags"] == ["ItsNotOK"]
