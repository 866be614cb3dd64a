"""Lengths as each platform counts them."""

from __future__ import annotations

import grapheme
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from content_calendar.render import bluesky_length, grapheme_count, mastodon_countable_text, mastodon_length


@pytest.mark.parametrize(
    ("text", "graphemes"),
    [
        ("", 0),
        ("plain ascii", 11),
        ("a\r\nb", 3),  # CR LF is one grapheme
        ("a\rb\nc", 5),
        ("\r\r\n", 2),
        ("café", 4),
        ("cafe\u0301", 4),
        ("👍🏽", 1),
        ("👨\u200d👩\u200d👧\u200d👦", 1),
        ("🏳️\u200d🌈", 1),
        ("🇬🇧🇫🇷", 2),
        ("🇬🇧🇫", 2),
        ("#️⃣", 1),
        ("한국어", 3),
        ("\u1100\u1161\u11a8", 1),  # conjoining jamo
        ("We’re here.", 11),
    ],
)
def test_bluesky_length_counts_graphemes(text: str, graphemes: int) -> None:
    assert bluesky_length(text) == graphemes
    assert grapheme.length(text) == graphemes


_TRICKY = st.sampled_from(
    [
        "a",
        "Z",
        " ",
        "\n",
        "\r",
        "\r\n",
        "’",
        "é",
        "e",
        "\u0301",
        "\u0308",
        "\u200d",
        "\u200c",
        "\ufe0f",
        "👍",
        "🏽",
        "👨",
        "👩",
        "🏳",
        "🌈",
        "🇬",
        "🇧",
        "#",
        "\u20e3",
        "한",
        "\u1100",
        "\u1161",
        "\u11a8",
        "क",
        "\u094d",
        "ष",
        "\u0903",
        "\u0600",
        "東",
        "𝕏",
        "\U000e0067",
        "\U000e007f",
        "🏴",
    ]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_TRICKY, max_size=40).map("".join))
def test_fast_count_equals_the_grapheme_library_on_tricky_text(text: str) -> None:
    assert grapheme_count(text) == grapheme.length(text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_fast_count_equals_the_grapheme_library_on_any_text(text: str) -> None:
    assert grapheme_count(text) == grapheme.length(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii")))
def test_ascii_without_crlf_is_len(text: str) -> None:
    expected = len(text) - text.count("\r\n")
    assert bluesky_length(text) == expected


def test_mastodon_counts_every_url_as_23() -> None:
    long_url = "https://example.org/" + "x" * 200
    assert mastodon_length(f"Read {long_url}") == len("Read ") + 23
    assert mastodon_length("Read https://x.io") == len("Read ") + 23
    assert mastodon_length(f"Read {long_url}.") == len("Read .") + 23  # the full stop is not part of the URL
    assert mastodon_length("a https://a.org b https://b.org") == len("a  b ") + 46
    assert mastodon_length("see https://x.org", url_weight=30) == len("see ") + 30


def test_mastodon_does_not_weigh_bare_domains() -> None:
    assert mastodon_length("napac.org.uk") == len("napac.org.uk")


def test_mastodon_counts_remote_mentions_as_local_part() -> None:
    assert mastodon_length("hi @alice@mastodon.social!") == len("hi @alice!")
    assert mastodon_length("hi @alice") == len("hi @alice")
    assert mastodon_countable_text("@a@b.org and @c@d.social") == "@a and @c"
    assert mastodon_countable_text("mail me@example.org") == "mail me@example.org"  # not a mention
    # an @ inside a URL is part of the URL
    assert mastodon_countable_text("https://mastodon.social/@alice") == "x" * 23


def test_mastodon_length_counts_the_spoiler_text() -> None:
    assert mastodon_length("body", spoiler_text="Child sexual abuse") == len("Child sexual abuse") + 4


def test_mastodon_counts_graphemes() -> None:
    assert mastodon_length("👨\u200d👩\u200d👧 e\u0301") == 3
