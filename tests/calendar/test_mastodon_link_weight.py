"""`validate` and Mastodon agree on which links weigh 23 characters: what validate accepts, the Mastodon test
server (its own reading of Mastodon's sources, tests/mastodon_server/twitter_text.py) accepts, and what validate
refuses as too long, the server refuses with 422; and the two counters agree on any mix of tricky text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mastodon import MastodonAPIError

from content_calendar.mastodon_count import mastodon_countable_text
from content_calendar.validate import check_calendar
from tests.calendar.conftest import WriteCalendar
from tests.mastodon_server import TestAccount, twitter_text

TOKENS = st.sampled_from(
    [
        "https://example.com/report",
        "http://localhost:3000/report",
        "https://127.0.0.1/x",
        "gemini://example.org/a",
        "ipfs://example.org",
        "HTTPS://WWW.IICSA.ORG.UK/Report?a=1&b=2#c",
        "https://example.music/x",
        "https://example.xperia/x",
        "https://bücher.de/straße",
        "https://пример.рф/путь",
        "https://example.xn--p1ai/",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "(https://example.com/a_(b))",
        "https://t.co/abc123/x",
        "xmpp:user@example.org",
        "magnet:?xt=urn:btih:abc",
        "example.org/",
        "www.example.com",
        "@alice@mastodon.social",
        "@bob",
        "@c_d@exämple.org",
        "mail me@example.org",
        "#ActOnIICSA",
        "“",
        "”",
        ".",
        ",",
        "!",
        "?",
        ")",
        "(",
        "'",
        ":",
        "/",
        "@",
        "-",
        "word",
        "日本語",
        "\U0001f499",
        "e\u0301",
    ]
)
GLUE = st.sampled_from(["", " ", " ", "\n", "\u00a0", "\t"])


@st.composite
def texts(draw: st.DrawFn) -> str:
    return "".join(draw(TOKENS) + draw(GLUE) for _ in range(draw(st.integers(0, 12))))


@settings(max_examples=300, deadline=None)
@given(text=texts())
def test_our_counter_and_the_servers_reading_of_mastodon_agree(text: str) -> None:
    assert mastodon_countable_text(text) == twitter_text.countable_text(text)


def _calendar(write_calendar: WriteCalendar, texts: dict[str, str]) -> dict[str, tuple[str, list[str]]]:
    """Validate a calendar of Mastodon posts: {post id: (the text as rendered, the problem codes)}."""
    lines = ["campaign: demo-campaign", "posts:"]
    for number, (post_id, text) in enumerate(texts.items()):
        at = f"2027-02-01 {9 + number:02d}:00"
        lines.append(f'  - {{id: {post_id}, at: "{at}", platforms: [mastodon], text: "{text}"}}')
    result = check_calendar(write_calendar("links.yaml", "\n".join(lines) + "\n"))
    return {
        post_id: (
            result.rendered[post_id]["mastodon"][0].text,
            [p.code for p in result.problems if p.post_id == post_id and p.severity == "error"],
        )
        for post_id in texts
    }


def _server_accepts(account: TestAccount, text: str) -> bool:
    try:
        account.client().status_post(text)
    except MastodonAPIError as error:
        assert "character limit" in str(error)
        return False
    return True


@pytest.mark.integration
def test_what_validate_accepts_the_server_accepts_and_what_it_refuses_the_server_refuses(
    write_calendar: WriteCalendar, mastodon_account: TestAccount
) -> None:
    path = "/campaigns/iicsa/recommendations/a-very-long-path-indeed"
    filler = "a" * (500 - len(" #DemoCampaign") - 23 - 1)  # 500 with the link as 23
    posts = {
        "public-link": f"{filler} https://example.com{path} #DemoCampaign",
        "local-link": f"{filler} http://localhost:3000{path} #DemoCampaign",  # counts in full: 55 over
        "gemini-link": f"{filler} gemini://example.org{path} #DemoCampaign",
        "new-tld-link": f"{filler} https://charity.music{path} #DemoCampaign",  # not a TLD Mastodon knows
    }
    checked = _calendar(write_calendar, posts)
    assert {post_id: codes for post_id, (_, codes) in checked.items()} == {
        "public-link": [],
        "local-link": ["mastodon-too-long"],
        "gemini-link": [],
        "new-tld-link": ["mastodon-too-long"],
    }
    for post_id, (text, codes) in checked.items():
        assert _server_accepts(mastodon_account, text) == (codes == []), post_id
