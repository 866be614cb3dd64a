"""The Mastodon adapter called directly against the stateful Mastodon test server: what a status carries,
the instance's own limits, media processing, exactly-once under every kind of lost answer, error
translation, the account check, engagement and hashtag mentions across two instances."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from content_calendar.render import mastodon_length
from platforms.base import (
    CredentialsError,
    PermanentError,
    RateLimited,
    ThreadRefs,
    TransientError,
)
from platforms.mastodon import MastodonAdapter, html_to_plain
from tests.mastodon_adapter.helpers import (
    CW,
    adapter_for,
    api_status,
    campaign_in,
    make_image,
    mastodon_post,
    rendered,
    requests_to,
    source_of,
)
from tests.mastodon_server import MastodonControl, TestAccount

pytestmark = pytest.mark.integration

HOUR_AND_A_BIT = 3700  # past the server's one-hour Idempotency-Key memory


def _now() -> datetime:
    return datetime.now(UTC)


def _text_of_length(target: int, *, spoiler: str = "", urls: int = 2) -> str:
    """A text with `urls` long URLs whose Mastodon length (spoiler included) is exactly `target`."""
    links = " ".join(f"https://example.org/iicsa/recommendations/{i}/a-very-long-path-indeed" for i in range(urls))
    text = f"#ActOnIICSA {links} "
    while mastodon_length(text, spoiler_text=spoiler) < target:
        text += "a"
    assert mastodon_length(text, spoiler_text=spoiler) == target
    return text


# --------------------------------------------------------------------------------------------- a status


def test_a_status_carries_what_the_calendar_asked_for(account: TestAccount, tmp_path: Path) -> None:
    image = make_image(tmp_path)
    post = mastodon_post(
        "recs-01",
        _now(),
        "The IICSA report made 20 recommendations. #ActOnIICSA\n\nImplement them as one package.",
        content_warning=CW,
        images=[(image, "A bench in a park with a plaque reading IICSA legacy.", (0.25, -0.5))],
        visibility="unlisted",
        allow_quotes=False,
    )
    (part,) = rendered(post, campaign_in(tmp_path))
    outcome = adapter_for(account).publish(part, "key-recs-01", reply_to=None, outcome_unknown=False)

    assert not outcome.already_existed
    shown = api_status(account, outcome.post.remote_id)
    assert source_of(account, outcome.post.remote_id)["text"] == part.text
    assert html_to_plain(shown["content"]) == part.text
    assert shown["spoiler_text"] == CW
    assert shown["sensitive"] is True
    assert shown["visibility"] == "unlisted"
    assert shown["language"] == "en"
    assert shown["uri"] == outcome.post.uri and shown["url"] == outcome.post.url
    (media,) = shown["media_attachments"]
    assert media["description"] == part.images[0].alt
    assert (media["meta"]["focus"]["x"], media["meta"]["focus"]["y"]) == (0.25, -0.5)
    assert media["url"]
    assert shown["quote_approval"]["automatic"] == []  # allow_quotes: false -> nobody may quote


def test_quote_policy_is_left_out_where_the_instance_has_no_quote_posts(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    mastodon.configure(version="4.4.3")
    (part,) = rendered(
        mastodon_post("q", _now(), "No quotes please #ActOnIICSA", allow_quotes=False), campaign_in(tmp_path)
    )
    adapter = adapter_for(account)
    outcome = adapter.publish(part, "key-q", reply_to=None, outcome_unknown=False)
    assert api_status(account, outcome.post.remote_id)["quote_approval"]["automatic"] == ["public"]
    assert any("not supported" in note for note in adapter.check_account().notes)


def test_thread_parts_answer_their_parent(account: TestAccount, tmp_path: Path) -> None:
    post = mastodon_post("thread", _now(), "One #ActOnIICSA", content_warning=CW, thread=["Two", "Three"])
    parts = rendered(post, campaign_in(tmp_path))
    adapter = adapter_for(account)
    root = adapter.publish(parts[0], "t0", reply_to=None, outcome_unknown=False).post
    parent = root
    for number, part in enumerate(parts[1:], start=1):
        child = adapter.publish(part, f"t{number}", reply_to=ThreadRefs(root, parent), outcome_unknown=False).post
        assert api_status(account, child.remote_id)["in_reply_to_id"] == parent.remote_id
        assert source_of(account, child.remote_id)["text"] == part.text
        parent = child


# --------------------------------------------------------------------------------------------- limits


def test_text_at_the_limit_posts_and_one_over_is_refused_saying_by_how_much(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    camp = campaign_in(tmp_path)
    at_limit = _text_of_length(500, spoiler=CW)
    (part,) = rendered(mastodon_post("long", _now(), at_limit, content_warning=CW), camp)
    adapter = adapter_for(account)
    outcome = adapter.publish(part, "long", reply_to=None, outcome_unknown=False)
    assert source_of(account, outcome.post.remote_id)["text"] == at_limit  # the server counted 500 too

    (over,) = rendered(mastodon_post("longer", _now(), at_limit + "b", content_warning=CW), camp)
    with pytest.raises(PermanentError) as refused:
        adapter.publish(over, "longer", reply_to=None, outcome_unknown=False)
    message = str(refused.value)
    assert "501 characters" in message and "1 over" in message and "Shorten the mastodon text" in message
    assert len(requests_to(mastodon, "POST", "/api/v1/statuses")) == 1  # refused before any request


def test_limits_come_from_the_instance_and_are_cached_for_a_while(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    camp = campaign_in(tmp_path)
    clock = [0.0]
    adapter = adapter_for(account, limits_ttl=600, monotonic=lambda: clock[0])
    assert adapter.limits().max_characters == 500
    mastodon.configure(max_characters=600)
    (part,) = rendered(mastodon_post("p550", _now(), _text_of_length(550)), camp)
    with pytest.raises(PermanentError, match="50 over its limit of 500"):
        adapter.publish(part, "p550", reply_to=None, outcome_unknown=False)
    clock[0] += 601  # the cached limits expire
    outcome = adapter.publish(part, "p550", reply_to=None, outcome_unknown=False)
    assert source_of(account, outcome.post.remote_id)["text"] == part.text
    assert len(requests_to(mastodon, "GET", "/api/v2/instance")) >= 2

    # The instance's URL weight, not the calendar's 23: two URLs at 40 each are 34 more characters.
    mastodon.configure(max_characters=500, characters_reserved_per_url=40)
    (at_500,) = rendered(mastodon_post("p500", _now(), _text_of_length(500)), camp)
    with pytest.raises(PermanentError, match="34 over its limit of 500"):
        adapter_for(account).publish(at_500, "p500", reply_to=None, outcome_unknown=False)


def test_an_instance_that_cannot_say_its_limits_is_asked_again_in_a_minute_not_before_every_request(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    clock = [0.0]
    adapter = adapter_for(account, limits_ttl=600, monotonic=lambda: clock[0])
    assert adapter.limits().max_characters == 500
    clock[0] += 601
    mastodon.inject_fault("/api/v2/instance", "error", count=50)
    try:
        before = len(requests_to(mastodon, "GET", "/api/v2/instance"))
        for _ in range(5):
            assert adapter.limits().max_characters == 500  # what we knew, while the instance cannot answer
        assert len(requests_to(mastodon, "GET", "/api/v2/instance")) == before + 1
        clock[0] += 61
        adapter.limits()
        assert len(requests_to(mastodon, "GET", "/api/v2/instance")) == before + 2
    finally:
        mastodon.clear_faults()


def test_more_images_than_the_instance_takes_or_too_long_alt_text_is_refused(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    mastodon.configure(max_media_attachments=2, description_limit=20)
    image = make_image(tmp_path)
    camp = campaign_in(tmp_path)
    (three,) = rendered(mastodon_post("three", _now(), "x", images=[(image, "alt", None)] * 3), camp)
    with pytest.raises(PermanentError, match="takes at most 2"):
        adapter_for(account).publish(three, "three", reply_to=None, outcome_unknown=False)
    (wordy,) = rendered(mastodon_post("wordy", _now(), "x", images=[(image, "a" * 21, None)]), camp)
    with pytest.raises(PermanentError, match="alt text of image 1 is 21 characters"):
        adapter_for(account).publish(wordy, "wordy", reply_to=None, outcome_unknown=False)
    assert not requests_to(mastodon, "POST", "/api/v2/media")


# --------------------------------------------------------------------------------------------- media


def test_media_processing_is_polled_with_short_waits(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    mastodon.configure(image_processing_polls=3)
    image = make_image(tmp_path)
    (part,) = rendered(
        mastodon_post("img", _now(), "Card #ActOnIICSA", images=[(image, "A card", None)]), campaign_in(tmp_path)
    )
    started = time.monotonic()
    outcome = adapter_for(account).publish(part, "img", reply_to=None, outcome_unknown=False)
    elapsed = time.monotonic() - started
    polls = requests_to(mastodon, "GET", "/api/v1/media/")
    assert [p["status"] for p in polls] == [206, 206, 200]
    assert 0.2 + 0.4 + 0.8 <= elapsed < 4.0  # Mastodon.py's synchronous=True would sleep 5 s per poll
    assert api_status(account, outcome.post.remote_id)["media_attachments"][0]["description"] == "A card"


def test_media_still_processing_at_the_deadline_is_retried_and_the_upload_reused(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    mastodon.configure(image_processing_polls=1000)
    image = make_image(tmp_path)
    (part,) = rendered(
        mastodon_post("slow", _now(), "Slow #ActOnIICSA", images=[(image, "Slow card", None)]), campaign_in(tmp_path)
    )
    adapter = adapter_for(account, media_deadline=0.8)
    with pytest.raises(TransientError) as waited:
        adapter.publish(part, "slow", reply_to=None, outcome_unknown=False)
    assert not waited.value.outcome_unknown and waited.value.retry_after
    assert not requests_to(mastodon, "POST", "/api/v1/statuses")
    mastodon.finish_media()
    outcome = adapter.publish(part, "slow", reply_to=None, outcome_unknown=False)
    assert len(requests_to(mastodon, "POST", "/api/v2/media")) == 1  # the first upload, not a second one
    assert len(api_status(account, outcome.post.remote_id)["media_attachments"]) == 1


def test_media_not_processed_answer_is_a_short_transient_error(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    (part,) = rendered(mastodon_post("m", _now(), "Text #ActOnIICSA"), campaign_in(tmp_path))
    mastodon.inject_fault(
        "/api/v1/statuses",
        "error",
        method="POST",
        status=422,
        body='{"error":"Cannot attach files that have not finished processing. Try again in a moment!"}',
    )
    with pytest.raises(TransientError) as error:
        adapter_for(account).publish(part, "m", reply_to=None, outcome_unknown=False)
    assert not isinstance(error.value, PermanentError)
    assert error.value.retry_after is not None and error.value.retry_after <= 10
    assert not error.value.outcome_unknown


def test_a_refusal_is_permanent_and_gives_the_servers_reason(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    (part,) = rendered(mastodon_post("r", _now(), "Text #ActOnIICSA"), campaign_in(tmp_path))
    mastodon.inject_fault(
        "/api/v1/statuses",
        "error",
        method="POST",
        status=422,
        body='{"error":"Validation failed: Language is invalid"}',
    )
    with pytest.raises(PermanentError, match="Validation failed: Language is invalid"):
        adapter_for(account).publish(part, "r", reply_to=None, outcome_unknown=False)


# --------------------------------------------------------------------------------------------- exactly once


@pytest.mark.parametrize(
    ("action", "status"),
    [("drop_after", 503), ("error_after", 502), ("error_after", 504), ("delay_after", 503)],
)
def test_a_lost_answer_after_the_status_was_stored_is_found_again_after_the_key_expired(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path, action: str, status: int
) -> None:
    post = mastodon_post("lost", _now(), "Lost answer #ActOnIICSA", content_warning=CW)
    (part,) = rendered(post, campaign_in(tmp_path))
    mastodon.inject_fault("/api/v1/statuses", action, method="POST", status=status, delay=2.0)
    adapter = adapter_for(account, request_timeout=1.0)
    with pytest.raises(TransientError) as lost:
        adapter.publish(part, "lost", reply_to=None, outcome_unknown=False)
    assert lost.value.outcome_unknown
    assert len(mastodon.statuses("campaign")) == 1
    mastodon.advance_clock(HOUR_AND_A_BIT)  # the server no longer remembers the key

    fresh = adapter_for(account)  # another worker process: nothing remembered in memory
    outcome = fresh.publish(part, "lost", reply_to=None, outcome_unknown=True)
    assert outcome.already_existed
    (stored,) = mastodon.statuses("campaign")
    assert outcome.post.remote_id == stored["id"]
    assert len(requests_to(mastodon, "POST", "/api/v1/statuses")) == 1  # found, not posted again


def test_an_error_before_anything_was_stored_posts_once_on_the_retry(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    (part,) = rendered(mastodon_post("e", _now(), "Unavailable #ActOnIICSA"), campaign_in(tmp_path))
    mastodon.inject_fault("/api/v1/statuses", "error", method="POST", status=503)
    adapter = adapter_for(account)
    with pytest.raises(TransientError) as unavailable:
        adapter.publish(part, "e", reply_to=None, outcome_unknown=False)
    assert unavailable.value.outcome_unknown
    outcome = adapter.publish(part, "e", reply_to=None, outcome_unknown=True)
    assert not outcome.already_existed
    assert len(mastodon.statuses("campaign")) == 1


def test_within_the_hour_the_idempotency_key_alone_prevents_a_second_status(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    (part,) = rendered(mastodon_post("k", _now(), "Key #ActOnIICSA"), campaign_in(tmp_path))
    mastodon.inject_fault("/api/v1/statuses", "drop_after", method="POST")
    with pytest.raises(TransientError):
        adapter_for(account).publish(part, "k", reply_to=None, outcome_unknown=False)
    # Even a caller that forgot the unknown outcome (no reconcile) gets the first status back.
    again = adapter_for(account).publish(part, "k", reply_to=None, outcome_unknown=False)
    (stored,) = mastodon.statuses("campaign")
    assert again.post.remote_id == stored["id"] and stored["idempotency_key"] == "k"
    assert len(requests_to(mastodon, "POST", "/api/v1/statuses")) == 2


def test_the_same_adapter_knows_a_replayed_key_was_its_own_earlier_status(account: TestAccount, tmp_path: Path) -> None:
    (part,) = rendered(mastodon_post("twice", _now(), "Twice #ActOnIICSA"), campaign_in(tmp_path))
    adapter = adapter_for(account)
    first = adapter.publish(part, "twice", reply_to=None, outcome_unknown=False)
    second = adapter.publish(part, "twice", reply_to=None, outcome_unknown=False)
    assert second.post.remote_id == first.post.remote_id and second.already_existed


def test_reconcile_matches_text_warning_parent_and_time_exactly(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    camp = campaign_in(tmp_path)
    now = _now()
    text = "Thanks @bob@other.example for standing with survivors #ActOnIICSA"
    (part,) = rendered(mastodon_post("exact", now, text, content_warning=CW), camp)
    adapter = adapter_for(account)
    # Look-alikes that must not count as this delivery:
    mastodon.post_as("campaign", text, spoiler_text=CW, created_at=now - timedelta(days=2))  # last year's twin
    mastodon.post_as("campaign", text, spoiler_text="Another warning")
    mastodon.post_as("campaign", text.replace("other.example", "elsewhere.example"), spoiler_text=CW)
    parent = mastodon.post_as("campaign", "Parent")
    mastodon.post_as("campaign", text, spoiler_text=CW, in_reply_to_id=parent["id"])
    assert adapter.find_published(part, "exact") is None

    real = mastodon.post_as("campaign", text, spoiler_text=CW)
    for number in range(45):  # push it to the second page of the account's statuses
        mastodon.post_as("campaign", f"Later status {number}")
    found = adapter.find_published(part, "exact")
    assert found is not None and found.remote_id == real["id"]


# --------------------------------------------------------------------------------------------- errors


def test_rate_limit_becomes_rate_limited_with_the_servers_reset_time(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    mastodon.configure(throttles={"statuses": {"limit": 1, "period": 3600}})
    camp = campaign_in(tmp_path)
    adapter = adapter_for(account)
    (first,) = rendered(mastodon_post("one", _now(), "One #ActOnIICSA"), camp)
    (second,) = rendered(mastodon_post("two", _now(), "Two #ActOnIICSA"), camp)
    adapter.publish(first, "one", reply_to=None, outcome_unknown=False)
    with pytest.raises(RateLimited) as limited:
        adapter.publish(second, "two", reply_to=None, outcome_unknown=False)
    (answer,) = [r for r in requests_to(mastodon, "POST", "/api/v1/statuses") if r["status"] == 429]
    assert limited.value.reset_at is not None
    window_end = datetime.fromtimestamp((answer["time"] // 3600 + 1) * 3600, tz=UTC)
    assert abs((limited.value.reset_at - window_end).total_seconds()) < 5
    assert not limited.value.outcome_unknown
    assert account.token not in str(limited.value)


def test_injected_429_on_upload_is_rate_limited_too(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    image = make_image(tmp_path)
    (part,) = rendered(mastodon_post("u", _now(), "U", images=[(image, "alt", None)]), campaign_in(tmp_path))
    mastodon.inject_fault("/api/v2/media", "error", method="POST", status=429, retry_after=30)
    with pytest.raises(RateLimited) as limited:
        adapter_for(account).publish(part, "u", reply_to=None, outcome_unknown=False)
    assert limited.value.reset_at is not None
    assert 20 < (limited.value.reset_at - _now()).total_seconds() <= 31


@pytest.mark.parametrize("how", ["revoke", "delete"])
def test_revoked_or_unknown_token_says_what_to_do_and_never_shows_the_token(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path, how: str
) -> None:
    (part,) = rendered(mastodon_post("c", _now(), "Creds #ActOnIICSA"), campaign_in(tmp_path))
    adapter = adapter_for(account)
    adapter.limits()
    if how == "revoke":
        mastodon.revoke_token(account.token)
    else:
        mastodon.delete_token(account.token)
    for call in (
        lambda: adapter.publish(part, "c", reply_to=None, outcome_unknown=False),
        adapter.check_account,
    ):
        with pytest.raises(CredentialsError) as refused:
            call()
        message = str(refused.value)
        for words in (
            "MASTODON_ACCESS_TOKEN",
            "write:statuses",
            "Preferences > Development",
            "campaign accounts check",
        ):
            assert words in message
        assert account.token not in message and account.token not in repr(adapter)


def test_forbidden_is_a_credentials_error(mastodon: MastodonControl, account: TestAccount, tmp_path: Path) -> None:
    (part,) = rendered(mastodon_post("f", _now(), "Forbidden #ActOnIICSA"), campaign_in(tmp_path))
    mastodon.inject_fault(
        "/api/v1/statuses", "error", method="POST", status=403, body='{"error":"This action is not allowed"}'
    )
    with pytest.raises(CredentialsError, match="This action is not allowed"):
        adapter_for(account).publish(part, "f", reply_to=None, outcome_unknown=False)


def test_a_server_that_does_not_answer_is_transient() -> None:
    adapter = MastodonAdapter("http://127.0.0.1:9", "not-a-real-token", request_timeout=1)
    with pytest.raises(TransientError, match=r"no answer from 127\.0\.0\.1:9") as error:
        adapter.check_account()
    assert "not-a-real-token" not in str(error.value)


# --------------------------------------------------------------------------------------------- account, reading


def test_check_account_says_who_and_what_the_instance_allows(mastodon: MastodonControl, account: TestAccount) -> None:
    mastodon.configure(max_characters=1000, description_limit=10000)
    info = adapter_for(account).check_account()
    assert info.platform == "mastodon"
    assert info.handle == f"campaign@{account.base_url.split('://')[1]}"
    assert info.account_id == account.id
    assert info.service == account.base_url
    assert info.can_post
    notes = " | ".join(info.notes)
    assert "1000 characters" in notes and "alt text up to 10000" in notes and "Mastodon 4.7.3" in notes


def test_engagement_in_batches_and_one_by_one_on_older_instances(
    mastodon: MastodonControl, account: TestAccount
) -> None:
    ids = [mastodon.post_as("campaign", f"Ours {n} #ActOnIICSA")["id"] for n in range(25)]
    mastodon.add_engagement(ids[0], favourites=3, reblogs=2, replies=1, quotes=1)
    mastodon.add_engagement(ids[24], favourites=1)
    gone = mastodon.post_as("campaign", "Deleted later")["id"]
    account.client().status_delete(gone)

    counts = adapter_for(account).engagement([*ids, gone])
    assert [c.remote_id for c in counts] == ids  # the deleted one is left out
    assert (counts[0].likes, counts[0].reposts, counts[0].replies, counts[0].quotes) == (3, 2, 1, 1)
    assert counts[24].likes == 1 and counts[1].likes == 0
    assert len(mastodon.request_log(method="GET", path="/api/v1/statuses")) == 2  # 26 ids, two requests
    assert not requests_to(mastodon, "GET", "/api/v1/statuses/")

    mastodon.configure(version="4.2.10")
    older = adapter_for(account).engagement(ids[:3])
    assert [c.likes for c in older] == [3, 0, 0]
    assert len(requests_to(mastodon, "GET", "/api/v1/statuses/")) == 3


def test_reconcile_finds_a_status_sent_early_by_post_now(
    mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    """`post-now` can send a post days before its plan; if that attempt's outcome was lost, the look-up must
    start from when it was written, not from the plan."""
    camp = campaign_in(tmp_path)
    sent = _now()
    text = "Sent ahead of its plan #ActOnIICSA"
    (part,) = rendered(mastodon_post("early", sent + timedelta(days=10), text), camp)
    real = mastodon.post_as("campaign", text, created_at=sent)
    adapter = adapter_for(account)
    assert adapter.find_published(part, "early") is None  # looking from the plan misses it
    found = adapter.find_published(part, "early", written_at=sent)
    assert found is not None and found.remote_id == real["id"]
