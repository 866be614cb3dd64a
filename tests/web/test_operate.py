"""The operator's buttons through the web app's ASGI interface, on a real store: each confirmation page names what
will happen (the application's own preview), each form calls the same API the CLI calls with the signed-in
person as the actor, and every role, refusal and race is answered in words: a viewer sees no buttons and is
refused, an editor cannot pause, a form without its CSRF token does nothing, a stranger is sent to sign in, a
confirmation that no longer matches the post does nothing, and two people acting at once never post twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from scheduler.dispatch.pausing import pause_state
from tests.web.operator_support import (
    FIRST,
    Workspace,
    client,
    confirm_and_post,
    field,
    make_workspace,
    signed_in,
)

pytestmark = pytest.mark.anyio

OPERATOR_PAGES = [
    "/pause",
    "/resume",
    "/posts/demo/one/cancel",
    "/posts/demo/one/restore",
    "/posts/demo/one/retry",
    "/posts/demo/one/post-now?platform=bluesky",
]
EVERY_PAGE = ["/status", "/calendars", "/reports", "/reports/demo-2027-W05.html", "/audit", *OPERATOR_PAGES]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = make_workspace(tmp_path)
    yield workspace
    workspace.api.close()


@pytest.mark.parametrize("url", EVERY_PAGE)
async def test_a_stranger_is_sent_to_sign_in_from_every_page(ws: Workspace, url: str) -> None:
    async with client(ws.api) as browser:
        answer = await browser.get(url)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=/")
        if url in OPERATOR_PAGES:
            refused = await browser.post(url.split("?")[0], data={"reason": "x", "csrf": "guess", "seen": "x"})
            assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    assert ws.states("one") == {"bluesky/0": "scheduled", "mastodon/0": "scheduled"}
    assert pause_state(ws.store) == (False, "")


async def test_a_viewer_sees_no_buttons_and_every_operator_form_is_refused(ws: Workspace) -> None:
    async with signed_in(ws.api, "vic") as browser:
        page = await browser.get("/status")
        assert page.status_code == 200 and "one" in page.text and "two" in page.text
        for button in ("Cancel…", "Restore…", "Post now…", "Pause posting…", "Resume posting…", "/audit"):
            assert button not in page.text
        csrf = field(page.text, "csrf")
        for url in OPERATOR_PAGES:
            assert (await browser.get(url)).status_code == 403
            answer = await browser.post(url.split("?")[0], data={"csrf": csrf, "reason": "news", "platform": "bluesky"})
            assert answer.status_code == 403 and "This needs the" in answer.text, url
        assert (await browser.get("/audit")).status_code == 403
        post_page = (await browser.get("/posts/demo/one")).text
        assert "The first post" in post_page and 'href="/posts/demo/one/cancel"' not in post_page
    assert ws.states("one") == {"bluesky/0": "scheduled", "mastodon/0": "scheduled"}
    assert pause_state(ws.store) == (False, "") and ws.events("cancel") == []


async def test_an_editor_may_cancel_but_not_pause(ws: Workspace) -> None:
    async with signed_in(ws.api, "sam") as browser:
        page = await browser.get("/status")
        assert "Cancel…" in page.text and "Post now…" in page.text and "Pause posting…" not in page.text
        post_page = (await browser.get("/posts/demo/one")).text  # the post page has the same buttons
        assert 'href="/posts/demo/one/cancel"' in post_page and 'href="/posts/demo/one/post-now"' in post_page
        assert 'href="/posts/demo/one/restore"' not in post_page and 'href="/posts/demo/one/retry"' not in post_page
        assert (await browser.get("/pause")).status_code == 403
        refused = await browser.post("/pause", data={"csrf": field(page.text, "csrf"), "reason": "news"})
        assert refused.status_code == 403 and "approver" in refused.text
    assert pause_state(ws.store) == (False, "")


async def test_cancel_shows_what_will_happen_then_does_it_as_the_signed_in_person(ws: Workspace) -> None:
    async with signed_in(ws.api, "sam") as browser:
        confirmation = (await browser.get("/posts/demo/one/cancel")).text
        assert "campaigns/demo/calendars/cal.yaml" in confirmation and "The first post" in confirmation
        assert "Mon 01 Feb 2027 09:00 GMT" in confirmation
        assert confirmation.count("cancelled: it will not be posted") == 2  # Bluesky and Mastodon
        assert ws.states("one") == {"bluesky/0": "scheduled", "mastodon/0": "scheduled"}  # asking changed nothing
        done, _ = await confirm_and_post(browser, "/posts/demo/one/cancel")
        assert done.status_code == 200 and "Cancelled one: 2 parts will not be posted." in done.text
    assert ws.states("one") == {"bluesky/0": "cancelled", "mastodon/0": "cancelled"}
    assert {e.actor for e in ws.events("cancel")} == {"sam"}


async def test_a_form_without_its_csrf_token_does_nothing(ws: Workspace) -> None:
    async with signed_in(ws.api, "ann") as browser:
        page = await browser.get("/posts/demo/one/cancel")
        seen = field(page.text, "seen")
        for data in ({"seen": seen}, {"seen": seen, "csrf": "not-the-token"}):
            answer = await browser.post("/posts/demo/one/cancel", data=data)
            assert answer.status_code == 403 and "This form has expired" in answer.text
            assert (await browser.post("/pause", data={**data, "reason": "news"})).status_code == 403
    async with signed_in(ws.api, "ann") as other:  # another person's token is not this session's
        page = await other.get("/pause")
    async with signed_in(ws.api, "ada") as browser:
        answer = await browser.post("/pause", data={"csrf": field(page.text, "csrf"), "reason": "news"})
        assert answer.status_code == 403
    assert ws.states("one") == {"bluesky/0": "scheduled", "mastodon/0": "scheduled"}
    assert pause_state(ws.store) == (False, "")


async def test_an_approver_pauses_with_a_reason_everyone_sees_then_resumes(ws: Workspace) -> None:
    async with signed_in(ws.api, "ann") as browser, signed_in(ws.api, "vic") as viewer:
        page = await browser.get("/pause")
        assert "Pause posting…" in (await browser.get("/status")).text
        no_reason = await browser.post("/pause", data={"csrf": field(page.text, "csrf"), "reason": "   "})
        assert no_reason.status_code == 400 and "Say why posting is paused" in no_reason.text
        assert pause_state(ws.store) == (False, "")
        paused = await browser.post(
            "/pause", data={"csrf": field(page.text, "csrf"), "reason": "news about the inquiry"}
        )
        assert paused.status_code == 200 and "Nothing more will be posted until someone resumes" in paused.text
        assert pause_state(ws.store) == (True, "news about the inquiry")
        seen_by_viewer = (await viewer.get("/calendars")).text  # the banner is on every page
        assert "Posting is paused</strong> by ann since Mon 25 Jan 2027 09:00 GMT" in seen_by_viewer
        assert "news about the inquiry" in seen_by_viewer and "Resume posting…" not in seen_by_viewer

    ws.clock.advance(timedelta(days=7, minutes=5))  # the posts' time comes while paused
    async with signed_in(ws.api, "ann") as browser, signed_in(ws.api, "vic") as viewer:
        page = await browser.get("/resume")
        assert "Posting was paused by ann on Mon 25 Jan 2027 09:00 GMT" in page.text
        assert "the time came for 2 posts: choose for each" in page.text and page.text.count("not posted yet") == 2
        for key in ("demo/one", "demo/two"):
            assert f'name="late:{key}" value="post" required>' in page.text
            assert f'name="late:{key}" value="leave">' in page.text
        csrf = field(page.text, "csrf")
        choices = {"late:demo/one": "post", "late:demo/two": "leave"}
        # No choice for a post: nothing changes, the page again with the reason.
        unchosen = await browser.post("/resume", data={"csrf": csrf, "late:demo/one": "post"})
        assert unchosen.status_code == 400 and "Nothing changed, posting is still paused" in unchosen.text
        assert 'name="late:demo/one" value="post" required checked>' in unchosen.text  # what was chosen stays chosen
        # The message is an alert that takes the focus, and names the post left unanswered, marked where it is.
        assert 'role="alert" id="resume-error" tabindex="-1" autofocus' in unchosen.text
        assert unchosen.text.count("Choose for this post") == 1 and unchosen.text.count("choose for this post") == 1
        assert '<a href="#choice-demo-two">“<bdi>The second post #ActOnIICSA</bdi>”</a>' in unchosen.text
        assert 'class="late-choice unanswered" id="choice-demo-two"' in unchosen.text
        assert 'class="late-choice" id="choice-demo-one"' in unchosen.text
        # Each post is named by its first words, linked to its page, in the legend of its own group of choices.
        assert '<legend><a href="/posts/demo/one">“<bdi>The first post #ActOnIICSA</bdi>”</a></legend>' in page.text
        assert 'class="stack"' not in page.text and "grace" not in page.text
        assert (await browser.post("/resume", data=choices)).status_code == 403  # no CSRF token: nothing changes
        assert pause_state(ws.store) == (True, "news about the inquiry") and ws.events("resume") == []
        resumed = await browser.post("/resume", data={"csrf": csrf, **choices})
        assert resumed.status_code == 200 and "Resumed. Posting was paused by ann" in resumed.text
        posted = '<bdi>Posted now, late: </bdi><a href="/posts/demo/one"><bdi>“The first post #ActOnIICSA”</bdi></a>.'
        left = (
            '<li class="tone-neutral"><bdi>Not posted: </bdi><a href="/posts/demo/two"><bdi>“The second post '
            "#ActOnIICSA”</bdi></a>. To post it later, open it and press Post late.</li>"
        )
        assert posted in resumed.text and left in resumed.text
        assert "Posting is paused" not in (await viewer.get("/status")).text
    assert pause_state(ws.store) == (False, "")
    assert [e.actor for e in ws.events("pause")] == ["ann"] and [e.actor for e in ws.events("resume")] == ["ann"]
    assert ws.events("pause")[0].reason == "news about the inquiry"
    assert set(ws.states("one").values()) == {"scheduled"} and set(ws.states("two").values()) == {"missed"}
    assert {(e.post_id, e.actor) for e in ws.events("resume-choice")} == {("one", "ann"), ("two", "ann")}


async def test_a_post_whose_time_comes_after_the_resume_page_was_shown_is_asked_about_first(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, [("one", FIRST, "The first post"), ("three", FIRST + timedelta(minutes=10), "Third")])
    try:
        ws.api.pause(reason="news", actor="ann", wait=timedelta(0))
        ws.clock.set(FIRST + timedelta(minutes=5))
        async with signed_in(ws.api, "ann") as browser:
            page = await browser.get("/resume")
            assert "demo/one" in page.text and "demo/three" not in page.text
            ws.clock.set(FIRST + timedelta(minutes=15))  # "three" falls due while the page is open
            answer = await browser.post("/resume", data={"csrf": field(page.text, "csrf"), "late:demo/one": "post"})
            assert answer.status_code == 400 and "Nothing changed, posting is still paused" in answer.text
            assert 'name="late:demo/three" value="post" required>' in answer.text  # shown now, to choose for
        assert pause_state(ws.store) == (True, "news") and ws.events("resume") == []
        assert ws.states("one") == {"bluesky/0": "scheduled", "mastodon/0": "scheduled"}
    finally:
        ws.api.close()


async def test_restore_undoes_a_cancel_and_asks_before_posting_late(ws: Workspace) -> None:
    ws.api.cancel("one", actor="test")
    ws.api.cancel("two", actor="test")
    async with signed_in(ws.api, "sam") as browser:
        assert "Restore…" in (await browser.get("/status")).text
        done, confirmation = await confirm_and_post(browser, "/posts/demo/one/restore", reason="cancelled by mistake")
        assert confirmation.count("back to scheduled") == 2 and "Post it now, late" not in confirmation
        assert "Restored one: 2 parts back to scheduled." in done.text
        assert ws.states("one") == {"bluesky/0": "scheduled", "mastodon/0": "scheduled"}

    ws.clock.set(FIRST + timedelta(hours=2))  # now past the 30 minute grace
    async with signed_in(ws.api, "sam") as browser:
        page = await browser.get("/posts/demo/two/restore")
        assert "Post it now, late" in page.text and "Leave it missed" in page.text
        unanswered = await browser.post(
            "/posts/demo/two/restore", data={"csrf": field(page.text, "csrf"), "seen": field(page.text, "seen")}
        )
        assert (
            unanswered.status_code == 400
            and "Choose whether to post it now, late, or leave it missed" in unanswered.text
        )
        assert ws.states("two") == {"bluesky/0": "cancelled", "mastodon/0": "cancelled"}
        done, _ = await confirm_and_post(browser, "/posts/demo/two/restore", late="leave")
        assert "left missed" in done.text
    assert ws.states("two") == {"bluesky/0": "missed", "mastodon/0": "missed"}
    assert [(e.actor, e.post_id) for e in ws.events("restore")][:2] == [("sam", "one"), ("sam", "one")]
    assert any(e.reason and "cancelled by mistake" in e.reason for e in ws.events("restore"))


async def test_retry_posts_missed_parts_late(ws: Workspace) -> None:
    ws.set_state("one", "missed")
    async with signed_in(ws.api, "sam") as browser:
        page = (await browser.get("/status")).text
        assert "Post late…" in page
        done, confirmation = await confirm_and_post(browser, "/posts/demo/one/retry")
        assert confirmation.count("posted now, late") == 2
        assert "one: 2 parts on Bluesky, Mastodon go out late" in done.text
        refused = await browser.get("/posts/demo/two/retry")
        assert refused.status_code == 409 and "Nothing to retry for two" in refused.text
    assert ws.states("one") == {"bluesky/0": "scheduled", "mastodon/0": "scheduled"}
    assert [e.actor for e in ws.events("retry")] == ["sam", "sam"]


async def test_post_now_publishes_once_and_a_second_time_posts_nothing(ws: Workspace) -> None:
    async with signed_in(ws.api, "sam") as browser:
        where = await browser.get("/posts/demo/one/post-now")
        assert "Post now on Bluesky…" in where.text and "Post now on Mastodon…" in where.text
        done, confirmation = await confirm_and_post(browser, "/posts/demo/one/post-now?platform=bluesky")
        assert "posted now, before its time" in confirmation and "Mastodon" not in confirmation.split("<main")[1]
        assert "Posted: one on Bluesky" in done.text and "Dry run for Bluesky" in done.text
        again = await browser.get("/posts/demo/one/post-now?platform=bluesky")
        assert "already published: it stays up" in again.text and "yes, do it" not in again.text
    assert ws.states("one") == {"bluesky/0": "published", "mastodon/0": "scheduled"}
    assert [entry["post_id"] for entry in ws.outbox()] == ["one"]
    assert ws.events("post-now")[0].actor == "sam"


async def test_a_confirmation_that_no_longer_matches_the_post_does_nothing(ws: Workspace) -> None:
    async with signed_in(ws.api, "sam") as browser:
        page = await browser.get("/posts/demo/one/cancel")
        ws.api.post_now("one", "bluesky", actor="someone else")  # meanwhile, Bluesky's part goes out
        answer = await browser.post(
            "/posts/demo/one/cancel", data={"csrf": field(page.text, "csrf"), "seen": field(page.text, "seen")}
        )
        assert answer.status_code == 409 and "This post changed while you were looking" in answer.text
        assert "already published: it stays up" in answer.text  # the new preview, to confirm again
        assert ws.states("one") == {"bluesky/0": "published", "mastodon/0": "scheduled"}  # nothing was done

        page = await browser.get("/posts/demo/two/cancel")
        ws.api.cancel("two", actor="someone else")
        answer = await browser.post(
            "/posts/demo/two/cancel", data={"csrf": field(page.text, "csrf"), "seen": field(page.text, "seen")}
        )
        assert (
            answer.status_code == 409
            and "Nothing was done" in answer.text
            and "Nothing to cancel for two" in answer.text
        )


async def test_unknown_buttons_posts_and_platforms_are_refused_in_words(ws: Workspace) -> None:
    async with signed_in(ws.api, "sam") as browser:
        assert (await browser.get("/posts/demo/one/delete")).status_code == 404
        wrong = await browser.get("/posts/demo/one/post-now?platform=myspace")
        assert wrong.status_code == 400 and "Choose one of Bluesky, Mastodon" in wrong.text
        missing = await browser.get("/posts/demo/nope/cancel")
        assert missing.status_code == 409 and "nope" in missing.text and "Traceback" not in missing.text


async def test_cancel_against_post_now_at_once_never_posts_twice(tmp_path: Path) -> None:
    """Two people press at the same moment, many times over: one wins, the other is told, and no part reaches
    the outbox twice."""
    posts = [(f"p{i}", FIRST + timedelta(hours=i), f"Post {i} #ActOnIICSA") for i in range(12)]
    ws = make_workspace(tmp_path, posts)
    try:
        async with signed_in(ws.api, "sam") as canceller, signed_in(ws.api, "ann") as poster:
            told = Counter[str]()
            for post_id, _at, _text in posts:
                cancel_page = await canceller.get(f"/posts/demo/{post_id}/cancel")
                post_page = await poster.get(f"/posts/demo/{post_id}/post-now?platform=bluesky")
                cancelled, posted = await asyncio.gather(
                    canceller.post(
                        f"/posts/demo/{post_id}/cancel",
                        data={"csrf": field(cancel_page.text, "csrf"), "seen": field(cancel_page.text, "seen")},
                    ),
                    poster.post(
                        f"/posts/demo/{post_id}/post-now",
                        data={
                            "csrf": field(post_page.text, "csrf"),
                            "seen": field(post_page.text, "seen"),
                            "platform": "bluesky",
                        },
                    ),
                )
                bluesky = ws.states(post_id)["bluesky/0"]
                if bluesky == "published":  # the post went out: the canceller was told it could not stop it
                    assert "Posted: " in posted.text
                    assert (
                        "changed while you were looking" in cancelled.text
                        or "cannot be called back" in cancelled.text
                        or "Nothing to cancel" in cancelled.text
                        or "it went out while you were confirming" in cancelled.text
                    ), cancelled.text
                    told["canceller"] += 1
                else:  # the cancel won: the poster was told, and nothing went out
                    assert bluesky == "cancelled" and "Cancelled " in cancelled.text
                    assert (
                        "Nothing was done" in posted.text
                        or "changed while you were looking" in posted.text
                        or "cancelled" in posted.text
                    ) and "Posted: " not in posted.text, posted.text
                    told["poster"] += 1
        keys = Counter(entry["idempotency_key"] for entry in ws.outbox())
        assert keys and max(keys.values()) == 1, keys
        published = {p for p, _a, _t in posts if ws.states(p)["bluesky/0"] == "published"}
        assert {entry["post_id"] for entry in ws.outbox()} == published
        assert sum(told.values()) == len(posts)
    finally:
        ws.api.close()
