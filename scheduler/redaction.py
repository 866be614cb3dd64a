"""One redactor for the whole application: every secret the settings hold, wherever text is stored or shown."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from scheduler.settings import Settings

MASK = "********"


class Redactor:
    """Removes known secret values from any text before it is stored or shown."""

    def __init__(self, secrets: Iterable[str]):
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    @classmethod
    def for_settings(cls, settings: Settings) -> Redactor:
        """The platform credentials and any password in the database or Redis URL (a driver's error can quote
        its connection string), as written and percent-decoded."""
        secrets = settings.secrets()
        for url in (settings.database_url, settings.redis_url):
            if url:
                with contextlib.suppress(ValueError):
                    password = urlsplit(url).password or ""
                    secrets += [password, unquote(password)]
        return cls(secrets)


def no_redaction(text: str) -> str:
    return text
