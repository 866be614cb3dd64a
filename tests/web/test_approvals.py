"""Approve and Reject on the post page, through the web workspace's ASGI interface: an approver sees them and
decides with a comment, in their own name; editors and viewers do not and cannot; every form needs its CSRF token;
whoever scheduled a version cannot approve it; a verdict on a version that has since changed is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from scheduler.api import Api
from scheduler.clock import FixedClock
from scheduler.review_models import Approval
from tests.web.pages import NOW, PASSWORD, client, make_api, signed_in, text_of, write_campaign

pytestmark = pytest.mark.anyio
POST_PAGE = "/posts/review-me/p1"
POSTS = """
    - id: p1
      at: "2027-02-02 09:00"
      text: "Survivors deserve to be heard #ItsNotOK"
    """


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    app = make_api(tmp_path, FixedClock(NOW))  # vic (viewer) and sam (editor)
    app.add_person("ann", "approver", password=PASSWORD, actor="test")
    app.add_person("ben", "approver", password=PASSWORD, actor="test")
    calendar = write_campaign(app, "review-me", POSTS, extra="approval: required\n")
    app.schedule([calendar], actor="ben")  # ben wrote it: ann may approve it, ben may not
    yield app
    app.close()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def version_of(page: str) -> str:
    found = re.search(r'name="version" value="([0-9a-f]{64})"', page)
    assert found, "no version on the page"
    return found.group(1)


def verdicts(api: Api) -> list[tuple[str, str, str]]:
    with api.wiring.store.transaction() as session:
        return [(a.actor, a.verdict, a.comment) for a in session.scalars(select(Approval).order_by(Approval.id))]


async def decide(browser: httpx.AsyncClient, verdict: str, comment: str = "") -> httpx.Response:
    page = (await browser.get(POST_PAGE)).text
    form = {"csrf": csrf_of(page), "version": version_of(page), "comment": comment}
    return await browser.post(f"{POST_PAGE}/{verdict}", data=form)


async def test_an_approver_approves_with_a_comment_in_their_name(api: Api) -> None:
    async with signed_in(api, "ann") as browser:
        page = await browser.get(POST_PAGE)
        assert page.status_code == 200
        shown = text_of(page.text)
        assert "Awaiting approval (needs 1 more approval, not from ben, who scheduled it)" in shown
        assert "Approve this version" in page.text and ">Reject</button>" in page.text
        done = await decide(browser, "approve", "Helpline checked")
        assert done.status_code == 200, done.text
        assert "Approved p1 (version" in text_of(done.text) and "it goes out at Tue 02 Feb 2027 09:00 GMT" in done.text
        page = await browser.get(POST_PAGE)
        shown = text_of(page.text)
        assert "Approved by ann. This is version" in shown and "Approved by ann: Helpline checked (" in shown
        assert "You have approved this version." in shown and "Approve this version" not in page.text
    assert verdicts(api) == [("ann", "approved", "Helpline checked")]


async def test_a_rejection_needs_a_reason_and_holds_the_post(api: Api) -> None:
    async with signed_in(api, "ann") as browser:
        refused = await decide(browser, "reject")
        assert refused.status_code == 400 and "Say why the post is rejected" in text_of(refused.text)
        done = await decide(browser, "reject", "The tone is wrong for the day")
        assert done.status_code == 200 and "Rejected p1" in text_of(done.text)
        page = text_of((await browser.get(POST_PAGE)).text)
        assert "rejected by ann: The tone is wrong for the day" in page
    assert verdicts(api) == [("ann", "rejected", "The tone is wrong for the day")]


async def test_only_approvers_may_decide_and_strangers_are_sent_to_sign_in(api: Api) -> None:
    for name in ("sam", "vic"):  # an editor and a viewer
        async with signed_in(api, name) as browser:
            page = await browser.get(POST_PAGE)
            assert page.status_code == 200 and "Approve this version" not in page.text and "/approve" not in page.text
            assert "An approver approves or rejects it here" in text_of(page.text)
            for verdict in ("approve", "reject"):
                answer = await browser.post(f"{POST_PAGE}/{verdict}", data={"csrf": csrf_of(page.text), "comment": "x"})
                assert answer.status_code == 403 and "This needs the approver role" in text_of(answer.text)
    async with client(api) as stranger:
        answer = await stranger.post(f"{POST_PAGE}/approve", data={"comment": "x"})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert verdicts(api) == []


async def test_every_verdict_needs_its_csrf_token(api: Api) -> None:
    async with signed_in(api, "ann") as browser:
        page = (await browser.get(POST_PAGE)).text
        for verdict in ("approve", "reject"):
            answer = await browser.post(f"{POST_PAGE}/{verdict}", data={"version": version_of(page), "comment": "x"})
            assert answer.status_code == 403 and "expired" in answer.text
            forged = {"csrf": "not-the-token", "version": version_of(page), "comment": "x"}
            assert (await browser.post(f"{POST_PAGE}/{verdict}", data=forged)).status_code == 403
    assert verdicts(api) == []


async def test_whoever_scheduled_a_version_cannot_approve_it(api: Api) -> None:
    async with signed_in(api, "ben") as browser:
        page = await browser.get(POST_PAGE)
        assert "You scheduled this version, so someone else must approve it." in text_of(page.text)
        assert "Approve this version" not in page.text
        answer = await browser.post(
            f"{POST_PAGE}/approve", data={"csrf": csrf_of(page.text), "version": version_of(page.text)}
        )
        assert answer.status_code == 409
        assert "You scheduled this version of review-me/p1, so someone else must approve it" in text_of(answer.text)
    assert verdicts(api) == []


async def test_a_verdict_on_a_version_that_has_since_changed_is_refused(api: Api) -> None:
    async with signed_in(api, "ann") as browser:
        page = (await browser.get(POST_PAGE)).text
        calendar = write_campaign_again(api, POSTS.replace("to be heard", "to be heard and believed"))
        api.schedule([calendar], actor="ben")
        form = {"csrf": csrf_of(page), "version": version_of(page), "comment": "Looks right"}
        answer = await browser.post(f"{POST_PAGE}/approve", data=form)
        assert answer.status_code == 409 and "has changed since you read it" in text_of(answer.text)
    assert verdicts(api) == []


def write_campaign_again(api: Api, posts: str) -> Path:
    calendar = api.settings.campaigns_dir / "review-me" / "calendars" / "posts.yaml"
    head = calendar.read_text().split("posts:\n", 1)[0]
    calendar.write_text(
        head + "posts:\n" + "\n".join("  " + line[4:] for line in posts.strip("\n").splitlines()) + "\n"
    )
    return calendar
