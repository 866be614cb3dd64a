"""Status text as Mastodon handles it: entity extraction, the length rule, and the HTML `content`.

Written from Mastodon's StatusLengthValidator, TextFormatter, Extractor and Account::MENTION_RE (4.x):
- length = grapheme clusters of spoiler_text + text, where every link Mastodon recognises (twitter_text.py:
  a scheme such as https://, a domain with a known top-level domain; not localhost, xmpp: or magnet:) counts
  as 23 characters and a mention `@user@domain` counts as `@user`;
- content = the text HTML-escaped, URLs/hashtags/mentions as links, paragraphs in <p>, single line breaks as
  <br />.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import grapheme

from tests.mastodon_server import twitter_text

URL_PLACEHOLDER_LENGTH = 23

_USERNAME = r"[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*"
MENTION_RE = re.compile(r"(?<![=/\w])@((" + _USERNAME + r")(?:@([\w.-]+\w+))?)", re.IGNORECASE)

_HASHTAG_SEPARATORS = "_\u00b7\u30fb\u200c"
# Not after = / ) or a letter/digit (an underscore may precede it, as in Mastodon's HASHTAG_RE).
HASHTAG_RE = re.compile(r"(?<![=/)])(?<![^\W_])#([\w" + _HASHTAG_SEPARATORS + r"]+)")


@dataclass(frozen=True)
class Entity:
    kind: str  # "url" | "hashtag" | "mention"
    start: int
    end: int
    value: str  # the URL, the hashtag without '#', or the mention without '@' ("user" or "user@domain")

    @property
    def username(self) -> str:
        return self.value.split("@", 1)[0]

    @property
    def domain(self) -> str | None:
        parts = self.value.split("@", 1)
        return parts[1] if len(parts) == 2 else None


def _valid_hashtag(name: str) -> str | None:
    name = name.rstrip(_HASHTAG_SEPARATORS.replace("_", ""))
    if not name or not any(ch.isalpha() for ch in name):
        return None
    return name


def extract_entities(text: str) -> list[Entity]:
    """URLs first; hashtags and mentions only where they do not overlap a URL (twitter-text's rule)."""
    links = twitter_text.extract_urls_with_indices(text, extract_url_without_protocol=False)
    links += twitter_text.extract_extra_uris_with_indices(text)  # xmpp: and magnet: are links too (not in length)
    links = twitter_text.remove_overlapping_entities(links)
    entities = [Entity("url", link.start, link.end, link.value) for link in links]

    def overlaps(start: int, end: int) -> bool:
        return any(e.start < end and start < e.end for e in entities)

    others: list[Entity] = []
    for match in HASHTAG_RE.finditer(text):
        name = _valid_hashtag(match.group(1))
        if name is None:
            continue
        start, end = match.start(), match.start() + 1 + len(name)
        if not overlaps(start, end):
            others.append(Entity("hashtag", start, end, name))
    for match in MENTION_RE.finditer(text):
        start, end = match.start(), match.end()
        if not overlaps(start, end):
            others.append(Entity("mention", start, end, match.group(1)))
    entities.extend(others)
    entities.sort(key=lambda entity: entity.start)
    return entities


def ruby_strip(value: str) -> str:
    """Ruby's String#strip: ASCII whitespace and NUL only (Python's strip() also removes Unicode spaces)."""
    return value.strip(" \t\n\v\f\r\0")


def countable_text(text: str) -> str:
    return twitter_text.countable_text(text, URL_PLACEHOLDER_LENGTH)


def status_length(text: str, spoiler_text: str = "") -> int:
    return grapheme.length(spoiler_text + countable_text(text))


def normalize_hashtag(name: str) -> str:
    """How Mastodon matches tags: Unicode NFKC, case-insensitive."""
    return unicodedata.normalize("NFKC", name).casefold()


def hashtags(text: str) -> list[str]:
    """Distinct hashtags (first spelling wins) in order of appearance."""
    seen: dict[str, str] = {}
    for entity in extract_entities(text):
        if entity.kind == "hashtag":
            seen.setdefault(normalize_hashtag(entity.value), entity.value)
    return list(seen.values())


def mentions(text: str) -> list[Entity]:
    return [entity for entity in extract_entities(text) if entity.kind == "mention"]


def _h(value: str) -> str:
    # Rails' ERB::Util.html_escape: & < > " '  ('  becomes &#39;)
    return html.escape(value, quote=True).replace("&#x27;", "&#39;")


_URL_PREFIX_RE = re.compile(r"\A(https?://(www\.)?|xmpp:)")


def shortened_link(url: str) -> str:
    prefix = _URL_PREFIX_RE.match(url)
    prefix_text = prefix.group(0) if prefix else ""
    rest = url[len(prefix_text) :]
    # Mastodon 4.4+ (PR #33229): a cut replaces the 31st character by an ellipsis, so a URL with exactly
    # 31 characters after its prefix is shown whole; longer ones show 30.
    if len(rest) > 31:
        display, suffix, ellipsis = rest[:30], rest[30:], "ellipsis"
    else:
        display, suffix, ellipsis = rest, "", ""
    return (
        f'<a href="{_h(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{_h(prefix_text)}</span>'
        f'<span class="{ellipsis}">{_h(display)}</span>'
        f'<span class="invisible">{_h(suffix)}</span></a>'
    )


def _simple_format(fragment: str) -> str:
    """Rails' simple_format(..., sanitize: false) followed by .delete("\\n"), as TextFormatter does."""
    fragment = fragment.replace("\r\n", "\n").replace("\r", "\n")
    if not fragment.strip():
        return "<p></p>"
    rendered = []
    for paragraph in re.split(r"\n\n+", fragment):
        paragraph = re.sub(r"([^\n]\n)(?=[^\n])", r"\1<br />", paragraph)
        rendered.append(f"<p>{paragraph}</p>")
    return "\n\n".join(rendered).replace("\n", "")


MentionResolver = Callable[[str, "str | None"], "tuple[str, str] | None"]


def render_content(text: str, *, base_url: str, resolve_mention: MentionResolver) -> str:
    """The HTML `content` of a local status. `resolve_mention(username, domain)` returns the mentioned
    account's (profile URL, display username) or None when the server does not know the account."""
    if not text.strip():
        return ""
    out: list[str] = []
    last = 0
    for entity in extract_entities(text):
        out.append(_h(text[last : entity.start]))
        if entity.kind == "url":
            out.append(shortened_link(entity.value))
        elif entity.kind == "hashtag":
            href = f"{base_url}/tags/{quote(entity.value, safe='')}"
            out.append(f'<a href="{_h(href)}" class="mention hashtag" rel="tag">#<span>{_h(entity.value)}</span></a>')
        else:
            found = resolve_mention(entity.username, entity.domain)
            if found is None:
                out.append(_h(text[entity.start : entity.end]))
            else:
                url, shown = found
                out.append(
                    f'<span class="h-card" translate="no"><a href="{_h(url)}" class="u-url mention">'
                    f"@<span>{_h(shown)}</span></a></span>"
                )
        last = entity.end
    out.append(_h(text[last:]))
    return _simple_format("".join(out))
