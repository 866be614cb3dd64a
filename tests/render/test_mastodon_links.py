"""Which links Mastodon weighs as 23 characters (content_calendar/mastodon_count.py), case by case.

The first cases are Mastodon's own (spec/validators/status_length_validator_spec.rb, limit 500); the others
follow its sources: twitter-text 3.1.0's valid_url as config/initializers/twitter_regex.rb redefines it, and
extract_urls_with_indices(text, extract_url_without_protocol: false) in StatusLengthValidator."""

from __future__ import annotations

import pytest

from content_calendar.mastodon_count import mastodon_countable_text, mastodon_links
from content_calendar.render import mastodon_length

LIMIT = 500


def accepted(text: str, spoiler: str = "") -> bool:
    return mastodon_length(text, spoiler_text=spoiler) <= LIMIT


# --- Mastodon's spec ----------------------------------------------------------------------------------


def test_spec_over_the_limit() -> None:
    assert not accepted("", spoiler="a" * 520)
    assert not accepted("a" * 520)
    assert not accepted("b" * 251, spoiler="a" * 250)


def test_spec_reduces_auto_linkable_space_separated_urls() -> None:
    assert accepted(" ".join(["a" * 476, f"http://{'b' * 30}.com/example"]))


def test_spec_does_not_reduce_non_autolinkable_urls() -> None:
    assert not accepted("a" * 476 + f"http://{'b' * 30}.com/example")  # glued to the word before it


def test_spec_does_not_reduce_overly_long_urls() -> None:
    assert not accepted(f"http://example.com/valid?{'#foo?' * 1000}")


def test_spec_remote_usernames() -> None:
    assert accepted("a" * 475 + f" @alice@{'b' * 30}.com")
    assert not accepted(f"@alice@{'b' * 500}.com")  # a domain over 253 characters is not a mention


def test_spec_emoji_count_as_one() -> None:
    assert accepted("✨" * 500)
    assert accepted("🏳️‍⚧️" * 500)


# --- what is a link -----------------------------------------------------------------------------------

PATH = "/iicsa/report/recommendations/2022"


@pytest.mark.parametrize(
    "url",
    [
        f"https://example.com{PATH}",
        f"http://example.com:8080{PATH}",
        f"HTTPS://EXAMPLE.COM{PATH}",
        f"https://www.iicsa.org.uk{PATH}?page=2&lang=en#part-3",
        f"gemini://example.org{PATH}",
        f"ipfs://example.org{PATH}",
        f"gopher://example.org{PATH}",
        f"https://en.wikipedia.org/wiki/Inquiry_(law){PATH}",
        f"https://example.xperia{PATH}",  # retired from the root zone, still in twitter-text's list
        f"https://example.xn--p1ai{PATH}",  # any punycode top-level domain
        f"https://bücher.de{PATH}",  # an internationalised domain
        f"https://пример.рф{PATH}",
        f"https://{'b' * 63}.com{PATH}",  # the longest label
    ],
)
def test_links_mastodon_recognises_weigh_23(url: str) -> None:
    assert mastodon_countable_text(f"Read {url} now") == "Read " + "x" * 23 + " now"


@pytest.mark.parametrize(
    "url",
    [
        f"http://localhost:3000{PATH}",  # no top-level domain
        f"https://127.0.0.1{PATH}",
        f"https://intranet.local{PATH}",  # not a top-level domain
        f"https://example.music{PATH}",  # delegated after twitter-text's list (2020): not a link on Mastodon
        f"ftp://example.com{PATH}",  # not a scheme it links
        f"https://{'b' * 64}.com{PATH}",  # a label longer than 63: IDNA refuses the domain
        "xmpp:campaign@example.org?join",  # linked by the formatter, but not in the length rule
        "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a",
        f"https://example.com/{'x' * 4100}",  # over 4,096 characters
    ],
)
def test_other_addresses_count_in_full(url: str) -> None:
    assert mastodon_links(f"Read {url} now") == []
    assert mastodon_length(f"Read {url} now") == len(f"Read {url} now")


def test_the_issue_case_localhost_counts_in_full_and_example_com_as_23() -> None:
    local = "http://localhost:3000/campaigns/iicsa/report"
    public = "https://example.com/campaigns/iicsa/report"
    assert mastodon_length(f"See {local}") == 4 + len(local)
    assert mastodon_length(f"See {public}") == 4 + 23


@pytest.mark.parametrize(
    ("text", "link"),
    [
        ("See https://example.com/report.", "https://example.com/report"),
        ("See https://example.com/report!", "https://example.com/report"),
        ("(see https://example.com/report)", "https://example.com/report"),
        # Mastodon's path may end in any character but its ASCII list and 「」: a closing curly quote is kept
        ("“https://example.com/report”", "https://example.com/report”"),
        ("See https://example.com/report?", "https://example.com/report"),
        ("See https://example.com/a?b=c;", "https://example.com/a?b=c"),
        ("See https://example.com/report/, then", "https://example.com/report/"),
        ("See https://en.wikipedia.org/wiki/Inquiry_(law).", "https://en.wikipedia.org/wiki/Inquiry_(law)"),
        ("See https://example.com.", "https://example.com"),
        ("Go to https://t.co/abc123/extra", "https://t.co/abc123"),
    ],
)
def test_trailing_punctuation_is_not_part_of_the_link(text: str, link: str) -> None:
    [(start, end)] = mastodon_links(text)
    assert text[start:end] == link


def test_a_link_glued_to_a_word_letter_or_sign_is_not_one() -> None:
    for before in ("word", "@", "$", "#", "9"):
        assert mastodon_links(f"{before}https://example.com/report") == []
    assert mastodon_links("-https://example.com/report") == [(1, 27)]  # punctuation before is fine


def test_a_scheme_inside_an_address_without_one_is_hidden() -> None:
    # twitter-text finds "example.org/https://example.com" as one URL without a scheme and skips it whole.
    assert mastodon_links("example.org/https://example.com") == []
    assert mastodon_links("example.org/ https://example.com") == [(13, 32)]


def test_several_links_and_lines() -> None:
    text = "One https://a.org\nTwo https://b.org/x\n\nhttps://c.co.uk"
    assert [text[s:e] for s, e in mastodon_links(text)] == ["https://a.org", "https://b.org/x", "https://c.co.uk"]
    assert mastodon_length(text) == len("One \nTwo \n\n") + 3 * 23


def test_a_mention_inside_a_link_is_part_of_the_link() -> None:
    assert mastodon_countable_text("https://mastodon.social/@alice@example.org") == "x" * 23
    assert mastodon_countable_text("@alice@example.org https://example.org") == "@alice " + "x" * 23


def test_a_blank_text_counts_nothing() -> None:
    assert mastodon_length("   \n ", spoiler_text="CW") == 2
