"""Links the pages show: only to web addresses (a `javascript:` or `data:` address is shown as text, never as a
link). Jinja escapes everything else."""

from __future__ import annotations

from pathlib import Path
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


def shown_path(workspace: Path, source: str) -> str:
    """A file as named from the workspace folder (campaigns/<campaign>/calendars/<file>), never the server's own
    absolute path; a file elsewhere as it is."""
    try:
        return str(Path(source).relative_to(workspace))
    except ValueError:
        return source
