"""Links the pages show: only to web addresses (a `javascript:` or `data:` address is shown as text, never as a
link). Jinja escapes everything else."""

from __future__ import annotations

from urllib.parse import urlsplit


def http_url(value: object) -> str:
    """The address when it is an http(s) address with a host; otherwise "" (not a link)."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(ord(c) < 0x21 for c in text):
        return ""
    return text
