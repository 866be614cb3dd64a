"""The text Mastodon measures against its character limit, exactly as Mastodon finds links and mentions in it.

Mastodon's StatusLengthValidator (app/validators/status_length_validator.rb, 4.x) counts the grapheme clusters of
`spoiler_text + countable_text(text)`, where countable_text replaces each entity that
`Extractor.extract_urls_with_indices(text, extract_url_without_protocol: false)` and
`Extractor.extract_mentions_or_lists_with_indices(text)` find (overlaps removed, the earlier kept) by 23 "x"
(a link) or "@user" (a mention `@user@domain`). A blank text counts nothing.

A link is what twitter-text 3.1.0's `valid_url` matches, as Mastodon's config/initializers/twitter_regex.rb
redefines it:
- a scheme (http, https, dat, dweb, ipfs, ipns, ssb, gopher or gemini, then "://"; any case), not glued to a
  letter, digit, @, $ or # before it. A match without a scheme is found and skipped, and can hide a link
  inside it ("example.org/https://example.com" weighs in full);
- a domain ending in a top-level domain from twitter-text's frozen list (content_calendar/mastodon_tlds.py) or
  a punycode one (xn--...): `localhost`, IP addresses and unknown endings are not links and count in full;
- an optional port, path (not ending in punctuation such as . , ! ? : ; ' " unless balanced parentheses close
  it) and query;
- the domain must convert to ASCII (IDNA 2003, as libidn does: each label at most 63 characters) and the link
  be at most 4,096 characters with the domain in punycode; longer ones count in full;
- t.co links stop after their code.
`xmpp:` and `magnet:` links are made clickable by Mastodon's formatter but are not in this extraction: they
count in full.
"""

from __future__ import annotations

import functools
import re

from content_calendar.mastodon_tlds import COUNTRY, GENERIC

URL_WEIGHT = 23
_MAX_URL_LENGTH = 4096  # twitter-text's Extractor::MAX_URL_LENGTH
_MAX_DOMAIN_LENGTH = 253  # Mastodon's Extractor::MAX_DOMAIN_LENGTH, for mentions
_MAX_TCO_SLUG_LENGTH = 40

# Character sets of twitter-text's regex.rb (Python's re has no \p{...}: the properties are written out).
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # \p{White_Space}
_UNICODE_SPACES = "\t-\r \x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_DIRECTIONAL = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVALID = "\ufffe\ufeff\uffff"
_PUNCTUATION = "!\"#$%&'()*+,\\-./:;<=>?@\\[\\]^_`{|}~"
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268\u026f\u0272"
    "\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = (  # \p{Cyrillic}
    "\u0400-\u0484\u0487-\u052f\u1c80-\u1c88\u1d2b\u1d78\u2de0-\u2dff\ua640-\ua69f\ufe2e\ufe2f\U0001e030-\U0001e08f"
)
_DASHES = (  # \p{Pd}
    "\\-\u058a\u05be\u1400\u1806\u2010-\u2015\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32"
    "\ufe58\ufe63\uff0d\U00010ead"
)
_UCHARS = (
    "\xa0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd\U00030000-\U0003fffd"
    "\U00040000-\U0004fffd\U00050000-\U0005fffd\U00060000-\U0006fffd\U00070000-\U0007fffd\U00080000-\U0008fffd"
    "\U00090000-\U0009fffd\U000a0000-\U000afffd\U000b0000-\U000bfffd\U000c0000-\U000cfffd\U000d0000-\U000dfffd"
    "\U000e1000-\U000efffd\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
)


class _Node(dict[str, "_Node"]):
    pass


def _tld_pattern(names: list[str]) -> str:
    """An alternation of the names as a trie (re walks a flat alternation of 1,500 names one by one), trying a
    longer name before one that is its prefix, as the gem's reverse-sorted alternation does."""
    trie = _Node()
    for name in names:
        node = trie
        for char in name:
            node = node.setdefault(char, _Node())
        node[""] = _Node()

    def pattern(node: _Node) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(trie)


_DOMAIN_CHAR = f"[^{_DIRECTIONAL}{_PUNCTUATION}\\x00-\\x20\\x7f{_INVALID}{_UNICODE_SPACES}]"
_SUBDOMAIN = f"(?:(?:{_DOMAIN_CHAR}(?:[_-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\\.)"
_DOMAIN_NAME = f"(?:(?:{_DOMAIN_CHAR}(?:[-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\\.)"
_TLD_END = "(?=[^0-9a-z@+-]|$)"


def _domain() -> str:
    generic, country = _tld_pattern(GENERIC.split()), _tld_pattern(COUNTRY.split())
    return f"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}(?:(?:{generic}){_TLD_END}|(?:{country}){_TLD_END}|(?:xn--[0-9a-z]+)))"


# The path: Mastodon's own character sets, except that its ending character still embeds twitter-text's
# original balanced parentheses (Ruby interpolated them before Mastodon redefined them).
_PATH_CHAR_ORIGINAL = f"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\\[\\]{_DASHES}_~&|@{_LATIN_ACCENTS}]"
_PARENS_ORIGINAL = (
    f"\\((?:{_PATH_CHAR_ORIGINAL}+|(?:{_PATH_CHAR_ORIGINAL}*\\({_PATH_CHAR_ORIGINAL}+\\){_PATH_CHAR_ORIGINAL}*))\\)"
)
_PATH_CHAR = f"[^{_WHITE_SPACE}<>()?]"
_PATH_END = f"(?:[^{_WHITE_SPACE}()?!*\"'\u300c\u300d<>;:=,.$%\\[\\]~&|@]|{_PARENS_ORIGINAL})"
_PARENS = f"\\((?:{_PATH_CHAR}+|(?:{_PATH_CHAR}*\\({_PATH_CHAR}+\\){_PATH_CHAR}*))\\)"
_PATH = f"(?:(?:{_PATH_CHAR}*(?:{_PARENS}{_PATH_CHAR}*)*{_PATH_END})|(?:{_PATH_CHAR}+/))"
_QUERY_CHAR = f"[a-z0-9!?*'();:&=+$/%#\\[\\]\\-_.,~|@^{_UCHARS}]"
_QUERY_END = f"[a-z0-9_&=#/\\-{_UCHARS}]"


@functools.cache
def _valid_url() -> re.Pattern[str]:
    """twitter-text's valid_url as Mastodon redefines it (compiled on first use: it takes a quarter of a second)."""
    return re.compile(
        f"(?:[^A-Z0-9@\uff20$#\uff03{_INVALID}]|[{_DIRECTIONAL}]|^)"
        "(?P<url>(?P<scheme>(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://)?"
        f"(?P<domain>{_domain()})(?::[0-9]+)?(?:/{_PATH}*)?(?:\\?{_QUERY_CHAR}*{_QUERY_END})?)",
        re.IGNORECASE | re.MULTILINE,
    )


_SEPARATORS = frozenset("\t\n\x0b\x0c\r \x85")
_SEPARATOR = re.compile("[\t\n\x0b\x0c\r \x85]")
_TCO = re.compile(r"https?://t\.co/([a-z0-9]+)", re.IGNORECASE)

# Account::MENTION_RE; the (?<![=/[:word:]]) before the @ is checked in Python (a leading look-behind is tried at
# every position). A mention followed by @, a Latin accented letter or "://" is not one (end_mention_match).
_MENTION = re.compile(r"@(?P<name>(?P<user>[a-zA-Z0-9_]+(?:[.-]+[a-zA-Z0-9_]+)*)(?:@\w+(?:[.-]+\w+)*)?)")
_MENTION_END = re.compile(f"@|\uff20|[{_LATIN_ACCENTS}]|://", re.IGNORECASE)


def _domain_converts(domain: str, url_length: int) -> bool:
    """twitter-text's is_valid_domain: the domain converts to ASCII and the link stays within 4,096 characters."""
    if domain.isascii():  # ToASCII leaves it as it is, checking only that each label has 1 to 63 characters
        return max(map(len, domain.split("."))) <= 63 and url_length <= _MAX_URL_LENGTH
    try:
        ascii_length = len(domain.encode("idna"))
    except UnicodeError:
        return False
    return url_length + max(0, ascii_length - len(domain)) <= _MAX_URL_LENGTH


def mastodon_links(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each link Mastodon weighs as 23 characters, in order."""
    spans: list[tuple[int, int]] = []
    run_end = 0
    while (separator := text.find("://", run_end)) >= 0:
        # Only the run of characters around "://" (up to ASCII white space, which no match can contain) is
        # searched: a match elsewhere has no scheme, is skipped, and cannot hide a link outside its run.
        run_start = separator
        while run_start > run_end and text[run_start - 1] not in _SEPARATORS:
            run_start -= 1
        after = _SEPARATOR.search(text, separator)
        run_end = after.start() if after is not None else len(text)
        spans.extend(_links_in(text, max(run_start - 1, 0), run_end))  # from the character before the run
    return spans


def _links_in(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    for match in _valid_url().finditer(text, start, end):
        if match.group("scheme") is None:
            continue
        url = match.group("url")
        start, end = match.span("url")
        tco = _TCO.match(url)
        if tco is not None:
            if len(tco.group(1)) > _MAX_TCO_SLUG_LENGTH:
                continue
            url = tco.group()
            end = start + len(url)
        if _domain_converts(match.group("domain"), len(url)):
            spans.append((start, end))
    return spans


def _mentions(text: str) -> list[tuple[int, int, str]]:
    found = []
    for match in _MENTION.finditer(text):
        start = match.start()
        if start and (text[start - 1] in "=/" or text[start - 1].isalnum() or text[start - 1] == "_"):
            continue
        if _MENTION_END.match(text, match.end()) is not None:
            continue
        name = match.group("name")
        if "@" in name and len(name.split("@", 1)[1]) > _MAX_DOMAIN_LENGTH:
            continue
        found.append((start, match.end(), "@" + match.group("user")))
    return found


def mastodon_countable_text(text: str, url_weight: int = URL_WEIGHT) -> str:
    """The text Mastodon measures: each link it recognises replaced by `url_weight` characters, each mention
    `@user@domain` by `@user`."""
    if not text or text.isspace():
        return ""  # Ruby's blank?: a text of spaces counts nothing
    if "://" not in text and "@" not in text:
        return text
    entities = [(start, end, "x" * url_weight) for start, end in mastodon_links(text)]
    if "@" in text:
        entities.extend(_mentions(text))
        entities.sort()
    pieces: list[str] = []
    position = 0
    for start, end, replacement in entities:
        if start < position:
            continue  # overlaps the entity before it (remove_overlapping_entities keeps the earlier)
        pieces.append(text[position:start])
        pieces.append(replacement)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
