"""The server's text rules against independent references: Mastodon.py's own length counter (built on
twitter-text's URL regex) and HTML that a real Mastodon rendered in the recordings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mastodon import Mastodon

from tests.mastodon_server import text

WORDS = st.sampled_from(
    [
        "survivors",
        "IICSA",
        "redress",
        "Écoute",
        "straße",
        "日本語",
        "\U0001f499",
        "\U0001f469\u200d\U0001f467",
        "e\u0301",
        "#ItsNotOK",
        "#ActOnIICSA",
        "@alice",
        "@bob@mastodon.social",
        "@c_d@example.org",
        "https://www.iicsa.org.uk/reports-recommendations",
        "http://example.com/a?b=c&d=e",
        "https://gov.uk/x.",
        "(https://en.wikipedia.org/wiki/Foo_(bar))",
        "don't",
        "<b>",
        "&",
        "1/3",
        "—",
    ]
)
SEPARATORS = st.sampled_from([" ", "  ", "\n", "\n\n", ", ", ". "])


@st.composite
def statuses(draw: st.DrawFn) -> str:
    words = draw(st.lists(WORDS, min_size=0, max_size=25))
    out = ""
    for word in words:
        out += word + draw(SEPARATORS)
    return out


@settings(max_examples=150, deadline=None)
@given(body=statuses(), spoiler=st.sampled_from(["", "Child sexual abuse", "CW: \U0001f499"]))
def test_length_agrees_with_mastodon_py(body: str, spoiler: str) -> None:
    assert text.status_length(body, spoiler) == Mastodon.get_status_length(body, spoiler)


@pytest.mark.parametrize(
    ("source", "html"),
    [
        # texts and their content as a real Mastodon 4.7.3 rendered them (Mastodon.py's recordings)
        ("Toot!", "<p>Toot!</p>"),
        (
            "#hoot (hashtag toot)",
            '<p><a href="http://localhost:3000/tags/hoot" class="mention hashtag" rel="tag">#<span>hoot</span></a>'
            " (hashtag toot)</p>",
        ),
        ("you can't say that on television", "<p>you can&#39;t say that on television</p>"),
        (
            "https://www.youtube.com/watch?v=FAEKjYroiME",
            '<p><a href="https://www.youtube.com/watch?v=FAEKjYroiME" target="_blank" rel="nofollow noopener" '
            'translate="no"><span class="invisible">https://www.</span><span class="">youtube.com/watch?v=FAEKjYroiME'
            '</span><span class="invisible"></span></a></p>',
        ),
        (
            "@mastodonpy_test_2 same!",
            '<p><span class="h-card" translate="no"><a href="http://localhost:3000/@mastodonpy_test_2" '
            'class="u-url mention">@<span>mastodonpy_test_2</span></a></span> same!</p>',
        ),
        # Rails simple_format: paragraphs and line breaks
        ("one\ntwo\n\nthree", "<p>one<br />two</p><p>three</p>"),
        ("a < b & c > d", "<p>a &lt; b &amp; c &gt; d</p>"),
        ("@nobody@elsewhere.example hi", "<p>@nobody@elsewhere.example hi</p>"),
    ],
)
def test_content_html_matches_mastodon(source: str, html: str) -> None:
    def known(username: str, domain: str | None) -> tuple[str, str] | None:
        if username == "mastodonpy_test_2" and domain is None:
            return "http://localhost:3000/@mastodonpy_test_2", username
        return None

    assert text.render_content(source, base_url="http://localhost:3000", resolve_mention=known) == html


def test_long_links_are_shortened_to_30_characters() -> None:
    link = text.shortened_link("https://www.iicsa.org.uk/reports-recommendations/publications/inquiry/final-report")
    assert '<span class="ellipsis">iicsa.org.uk/reports-recommend</span>' in link
    assert '<span class="invisible">ations/publications/inquiry/final-report</span>' in link


def test_hashtags_are_case_insensitive_and_need_a_letter() -> None:
    assert text.hashtags("#ItsNotOK #itsnotok #ITSNOTOK #itsnotokay #2027 #sasvaw2027") == [
        "ItsNotOK",
        "itsnotokay",
        "sasvaw2027",
    ]
    assert text.hashtags("https://example.org/page#anchor and x#y") == []
    assert text.normalize_hashtag("ＩｔｓＮｏｔＯＫ") == "itsnotok"  # full-width letters, NFKC
