"""Status HTML as plain text, and the loose form in which a calendar text and a status's HTML are compared."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _PlainText(HTMLParser):
    """Status HTML to plain text: paragraphs become blank lines, <br> a line break, links their full text
    (Mastodon hides part of a long URL in an "invisible" span: the text is still there). Script and style
    contents are dropped; nothing is ever rendered or executed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "br":
            self.pieces.append("\n")
        elif tag == "p" and self.pieces:
            self.pieces.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.pieces.append(data)


def html_to_plain(content: str) -> str:
    parser = _PlainText()
    parser.feed(content or "")
    parser.close()
    text = "".join(parser.pieces)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


_REMOTE_MENTION = re.compile(r"(?<![\w/])@([A-Za-z0-9_]+)@[\w.-]+\w")


def loose(text: str) -> str:
    """Text as it survives Mastodon's HTML: @user@domain may show as @user, whitespace runs collapse."""
    return " ".join(_REMOTE_MENTION.sub(r"@\1", text).split())
