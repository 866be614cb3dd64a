"""The links and mentions Mastodon finds in a status, transliterated from the Ruby it runs.

Sources: twitter-text 3.1.0 (the gem Mastodon pins, `~> 3.1.0`): lib/twitter-text/regex.rb, extractor.rb and
lib/assets/tld_lib.yml (copied beside this file); Mastodon's config/initializers/twitter_regex.rb (its own path,
query and scheme rules, and xmpp:/magnet: URIs), app/lib/extractor.rb and Account::MENTION_RE. The REGEXEN
below are built in the same order as Ruby builds them, because Ruby interpolates a pattern's current value:
Mastodon's `valid_url_path_ending_chars` still embeds twitter-text's original balanced parentheses.

Written for this test server apart from the product's counter (content_calendar/mastodon_count.py), so that
a test comparing the two checks one against another reading of the same sources.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

_TLDS = yaml.load((Path(__file__).parent / "tld_lib.yml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)

MAX_URL_LENGTH = 4096
MAX_TCO_SLUG_LENGTH = 40
URL_PROTOCOL_LENGTH = len("https://")
MAX_DOMAIN_LENGTH = 253

# Unicode properties Python's re lacks, written out (Unicode 15).
WHITE_SPACE = "\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
CYRILLIC = (
    "\u0400-\u0484\u0487-\u052f\u1c80-\u1c88\u1d2b\u1d78\u2de0-\u2dff\ua640-\ua69f\ufe2e\ufe2f\U0001e030-\U0001e08f"
)
PD = (
    "\\u002d\u058a\u05be\u1400\u1806\u2010-\u2015\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u2e5d\u301c\u3030\u30a0"
    "\ufe31\ufe32\ufe58\ufe63\uff0d\U00010ead"
)


def _chars(codes: list[int | tuple[int, int]]) -> str:
    out = ""
    for code in codes:
        if isinstance(code, tuple):
            out += re.escape(chr(code[0])) + "-" + re.escape(chr(code[1]))
        else:
            out += re.escape(chr(code))
    return out


UNICODE_SPACES = _chars(
    [(0x09, 0x0D), 0x20, 0x85, 0xA0, 0x1680, 0x180E, (0x2000, 0x200A), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
)
DIRECTIONAL_CHARACTERS = _chars(
    [0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]
)
INVALID_CHARACTERS = _chars([0xFFFE, 0xFEFF, 0xFFFF])
LATIN_ACCENTS = _chars(
    [
        (0xC0, 0xD6),
        (0xD8, 0xF6),
        (0xF8, 0xFF),
        (0x0100, 0x024F),
        (0x0253, 0x0254),
        (0x0256, 0x0257),
        0x0259,
        0x025B,
        0x0263,
        0x0268,
        0x026F,
        0x0272,
        0x0289,
        0x028B,
        0x02BB,
        (0x0300, 0x036F),
        (0x1E00, 0x1EFF),
    ]
)
PUNCTUATION_CHARS = re.escape("!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~")
SPACE_CHARS = re.escape(" \t\n\x0b\f\r")
CTRL_CHARS = "\\x00-\\x1f\\x7f"
UCHARS = (
    "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd\U00030000-\U0003fffd"
    "\U00040000-\U0004fffd\U00050000-\U0005fffd\U00060000-\U0006fffd\U00070000-\U0007fffd\U00080000-\U0008fffd"
    "\U00090000-\U0009fffd\U000a0000-\U000afffd\U000b0000-\U000bfffd\U000c0000-\U000cfffd\U000d0000-\U000dfffd"
    "\U000e1000-\U000efffd\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
)

R: dict[str, str] = {}  # REGEXEN, as pattern sources (Ruby embeds each as a group)

# --- twitter-text's regex.rb -------------------------------------------------------------------------
R["latin_accents"] = f"[{LATIN_ACCENTS}]+"
R["at_signs"] = "[@\uff20]"
R["end_mention_match"] = f"\\A(?:{R['at_signs']}|{R['latin_accents']}|://)"
R["valid_url_preceding_chars"] = f"(?:[^A-Z0-9@\uff20$#\uff03{INVALID_CHARACTERS}]|[{DIRECTIONAL_CHARACTERS}]|^)"
DOMAIN_VALID_CHARS = (
    f"[^{DIRECTIONAL_CHARACTERS}{PUNCTUATION_CHARS}{SPACE_CHARS}{CTRL_CHARS}{INVALID_CHARACTERS}{UNICODE_SPACES}]"
)
R["valid_subdomain"] = f"(?:(?:{DOMAIN_VALID_CHARS}(?:[_-]|{DOMAIN_VALID_CHARS})*)?{DOMAIN_VALID_CHARS}\\.)"
R["valid_domain_name"] = f"(?:(?:{DOMAIN_VALID_CHARS}(?:[-]|{DOMAIN_VALID_CHARS})*)?{DOMAIN_VALID_CHARS}\\.)"
R["valid_gTLD"] = "(?:(?:" + "|".join(re.escape(t) for t in _TLDS["generic"]) + ")(?=[^0-9a-z@+-]|$))"
R["valid_ccTLD"] = "(?:(?:" + "|".join(re.escape(t) for t in _TLDS["country"]) + ")(?=[^0-9a-z@+-]|$))"
R["valid_punycode"] = "(?:xn--[0-9a-z]+)"
R["valid_domain"] = (
    f"(?:{R['valid_subdomain']}*{R['valid_domain_name']}(?:{R['valid_gTLD']}|{R['valid_ccTLD']}|{R['valid_punycode']}))"
)
R["valid_tco_url"] = "^https?://t\\.co/([a-z0-9]+)"
R["valid_port_number"] = "[0-9]+"
R["valid_general_url_path_chars"] = f"[a-z{CYRILLIC}0-9!\\*';:=\\+\\,\\.\\$/%#\\[\\]{PD}_~&\\|@{LATIN_ACCENTS}]"
G = R["valid_general_url_path_chars"]
R["valid_url_balanced_parens"] = f"(?:\\((?:{G}+|(?:{G}*\\({G}+\\){G}*))\\))"
R["validate_url_unreserved"] = f"[a-z{CYRILLIC}0-9{PD}._~]"
R["validate_url_pct_encoded"] = "(?:%[0-9a-f]{2})"
R["validate_url_sub_delims"] = "[!$&'()*+,;=]"

# --- Mastodon's config/initializers/twitter_regex.rb ---------------------------------------------------
R["valid_general_url_path_chars"] = f"[^{WHITE_SPACE}<>()?]"
R["valid_url_path_ending_chars"] = (
    f"(?:[^{WHITE_SPACE}()?!*\"'\u300c\u300d<>;:=,.$%\\[\\]~&|@]|(?:{R['valid_url_balanced_parens']}))"
)
G = R["valid_general_url_path_chars"]
R["valid_url_balanced_parens"] = f"(?:\\((?:{G}+|(?:{G}*\\({G}+\\){G}*))\\))"
R["valid_url_query_chars"] = f"[a-z0-9!?*'();:&=+$/%#\\[\\]\\-_.,~|@\\^{UCHARS}]"
R["valid_url_query_ending_chars"] = f"[a-z0-9_&=#/\\-{UCHARS}]"
R["valid_url_path"] = (
    f"(?:(?:{G}*(?:{R['valid_url_balanced_parens']}{G}*)*{R['valid_url_path_ending_chars']})|(?:{G}+/))"
)
R["valid_url"] = (
    f"((?P<before>{R['valid_url_preceding_chars']})"
    "(?P<url>(?P<protocol>(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://)?"
    f"(?P<domain>{R['valid_domain']})"
    f"(?::(?P<port>{R['valid_port_number']}))?"
    f"(?P<path>/{R['valid_url_path']}*)?"
    f"(?P<query>\\?{R['valid_url_query_chars']}*{R['valid_url_query_ending_chars']})?))"
)
R["validate_nodeid"] = f"(?:{R['validate_url_unreserved']}|{R['validate_url_pct_encoded']}|[!$()*+,;=])"
R["validate_resid"] = (
    f"(?:{R['validate_url_unreserved']}|{R['validate_url_pct_encoded']}|{R['validate_url_sub_delims']})"
)
R["valid_extended_uri"] = (
    f"((?:{R['valid_url_preceding_chars']})"
    "(?P<uri>"
    f"((xmpp:)(//{R['validate_nodeid']}+@{R['valid_domain']}/)?({R['validate_nodeid']}+@)?({R['valid_domain']})"
    f"(/{R['validate_resid']}+)?(\\?{R['valid_url_query_chars']}*{R['valid_url_query_ending_chars']})?)"
    f"|((magnet:)(\\?{R['valid_url_query_chars']}*{R['valid_url_query_ending_chars']}))))"
)

_FLAGS = re.IGNORECASE | re.MULTILINE  # Ruby's /i; its ^ and $ are always line anchors
VALID_TCO_URL = re.compile(R["valid_tco_url"], _FLAGS)


@functools.cache
def regex(name: str) -> re.Pattern[str]:
    """REGEXEN[name], compiled on first use (the TLD alternations take a while)."""
    return re.compile(R[name], _FLAGS)


END_MENTION_MATCH = re.compile(R["end_mention_match"], _FLAGS)
# Account::MENTION_RE (USERNAME_RE is /i; [[:word:]] is taken as Python's \w)
MENTION_RE = re.compile(r"(?<![=/\w])@(((?i:[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*))(?:@\w+(?:[.-]+\w+)*)?)")


@dataclass(frozen=True)
class Found:
    kind: str  # "url" | "mention"
    start: int
    end: int
    value: str  # the URL; the mention without its "@" ("user" or "user@domain")


def _is_valid_domain(url_length: int, domain: str, protocol: str | None) -> bool:
    """Extractor#is_valid_domain: IDN::Idna.toASCII must accept the domain (libidn, IDNA 2003: nameprep, each label
    1-63 characters) and the URL with the domain in ASCII must stay within MAX_URL_LENGTH."""
    try:
        encoded = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    if len(encoded) > len(domain):
        url_length += len(encoded) - len(domain)
    if not protocol:
        url_length += URL_PROTOCOL_LENGTH
    return url_length <= MAX_URL_LENGTH


def extract_urls_with_indices(text: str, *, extract_url_without_protocol: bool = True) -> list[Found]:
    if not text or (":" not in text if not extract_url_without_protocol else "." not in text):
        return []
    urls: list[Found] = []
    for match in regex("valid_url").finditer(text):
        protocol, domain = match.group("protocol"), match.group("domain")
        url = match.group("url")
        start, end = match.span("url")
        if not protocol:
            if not extract_url_without_protocol:
                continue
            raise NotImplementedError("Mastodon never extracts URLs without a protocol")
        tco = VALID_TCO_URL.match(url)
        if tco is not None:
            if len(tco.group(1)) > MAX_TCO_SLUG_LENGTH:
                continue
            url = tco.group(0)
            end = start + len(url)
        if not _is_valid_domain(len(url), domain, protocol):
            continue
        urls.append(Found("url", start, end, url))
    return urls


def extract_extra_uris_with_indices(text: str) -> list[Found]:
    if ":" not in text:
        return []
    return [
        Found("url", m.start("uri"), m.end("uri"), m.group("uri")) for m in regex("valid_extended_uri").finditer(text)
    ]


def extract_mentions_or_lists_with_indices(text: str) -> list[Found]:
    if not re.search(R["at_signs"], text):
        return []
    found = []
    for match in MENTION_RE.finditer(text):
        if END_MENTION_MATCH.match(text[match.end() :]):
            continue
        screen_name = match.group(1)
        domain = screen_name.split("@", 1)[1] if "@" in screen_name else ""
        if domain and len(domain) > MAX_DOMAIN_LENGTH:
            continue
        found.append(Found("mention", match.start(1) - 1, match.end(1), screen_name))
    return found


def remove_overlapping_entities(entities: list[Found]) -> list[Found]:
    kept: list[Found] = []
    for entity in sorted(entities, key=lambda e: e.start):
        if kept and kept[-1].end > entity.start:
            continue
        kept.append(entity)
    return kept


def countable_text(text: str, url_placeholder_chars: int = 23) -> str:
    """StatusLengthValidator#countable_text."""
    if not text or text.isspace():
        return ""
    entities = remove_overlapping_entities(
        extract_urls_with_indices(text, extract_url_without_protocol=False)
        + extract_mentions_or_lists_with_indices(text)
    )
    result = ""
    last = 0
    for entity in entities:
        result += text[last : entity.start]
        result += "x" * url_placeholder_chars if entity.kind == "url" else "@" + entity.value.split("@")[0]
        last = entity.end
    return result + text[last:]
