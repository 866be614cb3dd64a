"""Posting through Mastodon.py (as our workers will) against the test server: statuses with content
warnings, length rules, media processing, idempotency keys, scheduling, threads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mastodon import MastodonAPIError, MastodonNotFoundError

from tests.mastodon.helpers import jpeg_bytes, raw
from tests.mastodon_server import MastodonControl, TestAccount

pytestmark = pytest.mark.integration

CW = "Child sexual abuse"


def test_status_with_content_warning_is_stored_and_rendered_like_mastodon(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    client = mastodon_account.client()
    text = "Implement all 20 recommendations now.\n\nRead more: https://www.iicsa.org.uk/final-report #ActOnIICSA"
    status = client.status_post(text, spoiler_text=CW, language="en", visibility="public")

    assert status.spoiler_text == CW
    assert status.sensitive is False  # Mastodon.py sends sensitive=0; Mastodon keeps it
    assert status.visibility == "public" and status.language == "en"
    assert status.content == (
        "<p>Implement all 20 recommendations now.</p>"
        '<p>Read more: <a href="https://www.iicsa.org.uk/final-report" target="_blank" rel="nofollow noopener" '
        'translate="no"><span class="invisible">https://www.</span><span class="">iicsa.org.uk/final-report'
        '</span><span class="invisible"></span></a> '
        f'<a href="{mastodon.base_url}/tags/ActOnIICSA" class="mention hashtag" rel="tag">#<span>ActOnIICSA'
        "</span></a></p>"
    )
    assert [tag.name for tag in status.tags] == ["ActOnIICSA"]
    assert status.uri == f"{mastodon.base_url}/ap/users/{mastodon_account.id}/statuses/{status.id}"
    assert status.url == f"{mastodon.base_url}/@campaign/{status.id}"
    # time-based id: the high bits are the creation time in milliseconds
    created_ms = int(status.created_at.timestamp() * 1000)
    assert abs((int(status.id) >> 16) - created_ms) <= 1

    fetched = client.status(status.id)
    assert fetched.content == status.content and fetched.spoiler_text == CW
    assert client.status_source(status.id).text == text
    assert [s.id for s in client.account_statuses(mastodon_account.id)] == [status.id]


def test_blank_text_with_only_a_content_warning_becomes_the_text(mastodon_account: TestAccount) -> None:
    status = mastodon_account.client().status_post("", spoiler_text="Only a warning")
    assert status.spoiler_text == "" and status.content == "<p>Only a warning</p>"


def test_empty_status_is_refused(mastodon_account: TestAccount) -> None:
    with pytest.raises(MastodonAPIError) as refused:
        mastodon_account.client().status_post("   ")
    assert refused.value.args[1] == 422
    assert refused.value.args[3] == "Validation failed: Text can't be blank"


def test_length_counts_graphemes_urls_as_23_and_remote_mentions_as_local(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    client = mastodon_account.client()
    assert client.status_post("a" * 500).content == "<p>" + "a" * 500 + "</p>"
    with pytest.raises(MastodonAPIError) as too_long:
        client.status_post("a" * 501)
    assert too_long.value.args[1:] == (
        422,
        "Unprocessable Content",
        "Validation failed: Text character limit of 500 exceeded",
    )

    long_url = "https://example.org/" + "x" * 200  # counts as 23
    client.status_post("b" * (500 - 24) + " " + long_url)
    with pytest.raises(MastodonAPIError):
        client.status_post("b" * (500 - 23) + " " + long_url)

    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one grapheme, seven code points
    client.status_post(family * 500)
    # the content warning counts too
    client.status_post("c" * 490, spoiler_text="0123456789")
    with pytest.raises(MastodonAPIError):
        client.status_post("c" * 490, spoiler_text="0123456789X")
    # @user@domain counts as @user
    mention = "@someone@mastodon.example.social"
    client.status_post(mention + " " + "d" * (500 - len("@someone ")))
    with pytest.raises(MastodonAPIError):
        client.status_post(mention + " " + "d" * (501 - len("@someone ")))

    mastodon.configure(max_characters=1000)
    assert client.instance_v2().configuration.statuses.max_characters == 1000
    client.status_post("e" * 1000)


def test_instance_reports_its_limits(mastodon_account: TestAccount) -> None:
    client = mastodon_account.client()
    v2 = client.instance_v2()
    assert v2.version == "4.7.3"
    assert v2.configuration.statuses.max_characters == 500
    assert v2.configuration.statuses.characters_reserved_per_url == 23
    assert v2.configuration.statuses.max_media_attachments == 4
    assert v2.configuration.media_attachments.description_limit == 1500
    assert v2.configuration.media_attachments.image_size_limit == 16 * 1024 * 1024
    answer = raw("GET", f"{mastodon_account.base_url}/api/v2/instance/")
    assert answer.status_code == 200  # the trailing slash Mastodon.py uses
    v1 = raw("GET", f"{mastodon_account.base_url}/api/v1/instance")
    assert v1.headers["Deprecation"] == "@1668384000"
    assert v1.json()["configuration"]["statuses"]["max_characters"] == 500


def test_media_upload_is_processed_after_polls_and_unprocessed_media_is_refused(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    mastodon.configure(image_processing_polls=2)
    client = mastodon_account.client()
    media = client.media_post(
        jpeg_bytes(1600, 1200),
        mime_type="image/jpeg",
        description="A bench in the garden of remembrance",
        focus=(0.1, -0.2),
    )
    assert media.url is None and media.type == "image"
    assert media.meta.original.width == 1600 and media.meta.small.width == 554
    with pytest.raises(MastodonAPIError) as not_ready:
        client.status_post("Too early", media_ids=[media])
    assert not_ready.value.args[1] == 422
    assert not_ready.value.args[3] == "Cannot attach files that have not finished processing. Try again in a moment!"

    polled = [client.media(media) for _ in range(2)]
    assert [m.url is None for m in polled] == [True, False]
    codes = [row["status"] for row in mastodon.request_log(path=f"/api/v1/media/{media.id}")]
    assert codes == [206, 200]
    assert [row["status"] for row in mastodon.request_log(path="/api/v2/media")] == [202]

    status = client.status_post("With a picture", media_ids=[media], spoiler_text=CW)
    attachment = status.media_attachments[0]
    assert attachment.description == "A bench in the garden of remembrance"
    assert attachment.meta.focus.x == pytest.approx(0.1)
    assert raw("GET", attachment.url).content[:3] == b"\xff\xd8\xff"  # the file is served
    with pytest.raises(MastodonNotFoundError):
        client.media(media)  # attached media is no longer reachable there
    with pytest.raises(MastodonAPIError) as reused:
        client.status_post("Again", media_ids=[media])
    assert reused.value.args[3] == f"Media {media.id} not found or already attached to another post"


def test_images_are_ready_at_once_by_default(mastodon_account: TestAccount) -> None:
    client = mastodon_account.client()
    media = client.media_post(jpeg_bytes(), mime_type="image/jpeg", description="alt")
    assert media.url is not None and media.blurhash
    status = client.status_post("ok", media_ids=[media])
    assert len(status.media_attachments) == 1


def test_media_rules(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    client = mastodon_account.client()
    with pytest.raises(MastodonAPIError) as long_alt:
        client.media_post(jpeg_bytes(), mime_type="image/jpeg", description="x" * 1501)
    assert long_alt.value.args[3] == "Validation failed: Description is too long (maximum is 1500 characters)"
    media = client.media_post(jpeg_bytes(), mime_type="image/jpeg")
    with pytest.raises(MastodonAPIError):
        client.media_update(media, description="y" * 1501)
    assert client.media_update(media, description="y" * 1500).description == "y" * 1500
    with pytest.raises(MastodonAPIError) as not_media:
        client.media_post(b"plain text, not a picture", mime_type="image/jpeg")
    assert not_media.value.args[1] == 422
    five = [client.media_post(jpeg_bytes(), mime_type="image/jpeg") for _ in range(5)]
    with pytest.raises(MastodonAPIError) as too_many:
        client.status_post("five", media_ids=five)
    assert too_many.value.args[3] == "Cannot attach more than 4 files"
    assert len(client.status_post("four", media_ids=five[:4]).media_attachments) == 4


def test_idempotency_key_returns_the_original_within_the_hour_only(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    client = mastodon_account.client()
    first = client.status_post("Day 1: mandatory reporting", idempotency_key="delivery-17")
    again = client.status_post("Edited text, same delivery", idempotency_key="delivery-17")
    assert again.id == first.id and again.content == first.content
    assert len(mastodon.statuses("campaign")) == 1

    mastodon.advance_clock(3599)
    assert client.status_post("still within the hour", idempotency_key="delivery-17").id == first.id
    mastodon.advance_clock(2)  # 3601 s after the first post: the key is forgotten
    later = client.status_post("Day 1: mandatory reporting", idempotency_key="delivery-17")
    assert later.id != first.id
    assert [s["idempotency_key"] for s in mastodon.statuses("campaign")] == ["delivery-17", "delivery-17"]

    # keys belong to an account
    other = mastodon.create_account("other")
    assert other.client().status_post("mine", idempotency_key="delivery-17").id not in (first.id, later.id)


def test_idempotent_repeat_of_a_deleted_status_is_not_found(mastodon_account: TestAccount) -> None:
    client = mastodon_account.client()
    first = client.status_post("to delete", idempotency_key="k")
    client.status_delete(first)
    with pytest.raises(MastodonNotFoundError):
        client.status_post("to delete", idempotency_key="k")


def test_scheduling_rules(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    client = mastodon_account.client()
    now = mastodon.now()
    with pytest.raises(MastodonAPIError) as too_soon:
        client.status_post("soon", scheduled_at=now + timedelta(minutes=4))
    assert too_soon.value.args[3] == "Validation failed: Scheduled at date must be in the future"

    scheduled = client.status_post("later", scheduled_at=now + timedelta(minutes=10), spoiler_text=CW)
    assert scheduled.params.text == "later" and scheduled.params.spoiler_text == CW
    assert client.scheduled_statuses()[0].id == scheduled.id
    assert mastodon.statuses("campaign") == []

    mastodon.advance_clock(11 * 60)
    published = mastodon.statuses("campaign")
    assert [s["text"] for s in published] == ["later"] and published[0]["spoiler_text"] == CW
    assert client.scheduled_statuses() == []

    past = client.status_post("in the past", scheduled_at=now - timedelta(hours=1))
    assert past.content == "<p>in the past</p>"  # a past scheduled_at posts at once


def test_scheduled_statuses_are_limited_per_day_and_in_total(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    client = mastodon_account.client()
    mastodon.configure(scheduled_total_limit=30)
    day = (mastodon.now() + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    for index in range(25):
        client.status_post(f"post {index}", scheduled_at=day + timedelta(minutes=index))
    with pytest.raises(MastodonAPIError) as daily:
        client.status_post("one too many", scheduled_at=day + timedelta(hours=5))
    assert daily.value.args[3] == "Validation failed: You have exceeded the limit of 25 scheduled posts for today"
    next_day = day + timedelta(days=1)
    for index in range(5):
        client.status_post(f"next day {index}", scheduled_at=next_day + timedelta(minutes=index))
    with pytest.raises(MastodonAPIError) as total:
        client.status_post("over the total", scheduled_at=next_day + timedelta(days=1))
    assert total.value.args[3] == "Validation failed: You have exceeded the limit of 30 scheduled posts"


def test_thread_context_and_own_statuses_for_reconciliation(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    client = mastodon_account.client()
    root = client.status_post("1/3 The inquiry reported in October 2022.", spoiler_text=CW)
    second = client.status_post("2/3 It made 20 recommendations.", in_reply_to_id=root, spoiler_text=CW)
    third = client.status_post("3/3 Implement them as one package.", in_reply_to_id=second, spoiler_text=CW)
    assert second.in_reply_to_id == root.id and second.in_reply_to_account_id == mastodon_account.id
    mastodon.create_account("reader")
    mastodon.post_as("reader", "Agreed!", in_reply_to_id=root.id)

    context = client.status_context(third)
    assert [s.id for s in context.ancestors] == [root.id, second.id]
    assert [s.content for s in client.status_context(root).descendants][:2] == [second.content, third.content]
    assert client.status(root).replies_count == 2

    own = client.account_statuses(mastodon_account.id, exclude_replies=True, limit=40)
    assert [s.id for s in own] == [third.id, second.id, root.id]  # self-replies stay, others' do not matter
    newest_first = client.account_statuses(mastodon_account.id, limit=2)
    assert [s.id for s in newest_first] == [third.id, second.id]
    older = client.fetch_next(newest_first)
    assert [s.id for s in older] == [root.id]
    since = client.account_statuses(mastodon_account.id, min_id=root.id)
    assert [s.id for s in since] == [third.id, second.id]

    with pytest.raises(MastodonNotFoundError) as missing_parent:
        client.status_post("reply to nothing", in_reply_to_id="12345")
    assert missing_parent.value.args[3] == "The post you are trying to reply to does not appear to exist."


def test_private_and_direct_statuses_are_visible_to_their_author_only(
    mastodon: MastodonControl, mastodon_account: TestAccount
) -> None:
    client = mastodon_account.client()
    private = client.status_post("followers only", visibility="private")
    stranger = mastodon.create_account("stranger").client()
    with pytest.raises(MastodonNotFoundError):
        stranger.status(private)
    assert client.status(private).visibility == "private"
    assert stranger.account_statuses(mastodon_account.id) == []
    assert raw("GET", f"{mastodon.base_url}/api/v1/statuses/{private.id}").status_code == 404


def test_engagement_by_other_accounts(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    client = mastodon_account.client()
    status = client.status_post("Write to your MP today #ActOnIICSA")
    mastodon.add_engagement(status.id, favourites=3, reblogs=2, replies=["Done!", "Sent mine"], quotes=1)
    fetched = client.status(status)
    assert (fetched.favourites_count, fetched.reblogs_count, fetched.replies_count, fetched.quotes_count) == (
        3,
        2,
        2,
        1,
    )
    replies = client.status_context(status).descendants
    assert sorted(r.content for r in replies) == ["<p>Done!</p>", "<p>Sent mine</p>"]
    assert all(r.account.acct != "campaign" for r in replies)
    many = client.statuses([status.id, replies[0].id])
    assert [s.id for s in many] == [status.id, replies[0].id]


def test_status_times_follow_the_server_clock(mastodon: MastodonControl, mastodon_account: TestAccount) -> None:
    moment = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    mastodon.set_clock(moment)
    status = mastodon_account.client().status_post("SASVAW week starts today #ItsNotOK")
    assert abs((status.created_at - moment).total_seconds()) < 5
    assert abs((int(status.id) >> 16) / 1000 - moment.timestamp()) < 5
