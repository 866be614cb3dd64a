"""The alert addresses of CAMPAIGN_ALERT_URLS (Apprise URLs: mailto://, slack://, json://, ntfy://, ...): how the
setting is split into addresses, and which parts of each are secret (passwords, tokens, keys in the path or the
query) so the redactor hides them wherever text is stored or shown. Nothing here reads the environment."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

# Commas separate addresses only where another address starts: a comma inside one (mailto://...?to=a@x,b@y)
# is its own.
_SEPARATOR = re.compile(r"\s+|,(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)")
# Query keys whose value is always secret, whatever it looks like (Apprise's names for them).
_SECRET_KEYS = frozenset(
    {"pass", "password", "token", "key", "apikey", "api_key", "secret", "webhook", "access_token", "auth"}
)
_TOKEN_MIN = 6  # a path part or host this long, shaped like a token (digits and letters), is taken as secret


def split_alert_urls(raw: str) -> list[str]:
    """The addresses of CAMPAIGN_ALERT_URLS: separated by spaces, new lines or commas."""
    return [part.strip().strip(",") for part in _SEPARATOR.split(raw or "") if part.strip().strip(",")]


def _tokenish(text: str) -> bool:
    """A path part, host or value that reads as a token rather than a word or a host name: long enough, with a
    digit, or mixed case, and no dots (a dotted name is a host or an address)."""
    if len(text) < _TOKEN_MIN or "." in text or "@" in text:
        return False
    return any(c.isdigit() for c in text) or (any(c.isupper() for c in text) and any(c.islower() for c in text))


def url_secrets(url: str) -> list[str]:
    """The secret parts of one alert address, as written and percent-decoded, and the address itself."""
    found: list[str] = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if userinfo:
        user, _, password = userinfo.partition(":")
        # A user name is often a word or an address ("alerts", "ops@example.org"): secret only when it reads as
        # a token (an API key written as the user).
        found += [password] + ([user] if _tokenish(unquote(user)) else [])
    host = hostport.split(":", 1)[0] if not hostport.startswith("[") else hostport
    if _tokenish(host):
        found.append(host)
    # A bot token written as the host (tgram://123456:ABCdef/...) is split by the port's colon.
    if ":" in hostport and not hostport.rsplit(":", 1)[1].isdigit():
        found.append(hostport)
    for segment in [*parts.path.split("/"), *parts.fragment.split("/")]:
        if _tokenish(unquote(segment)):
            found.append(segment)
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        header = key.startswith((":", "+", "-", " "))  # Apprise's payload fields and headers (+ reads as a space)
        if header or key.lower() in _SECRET_KEYS or _tokenish(value):
            found.append(value)
    decoded = [unquote(item) for item in found]
    return [item for item in dict.fromkeys([*found, *decoded]) if item]
