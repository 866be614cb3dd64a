"""What a campaign asks of its posts for accessibility and safe messaging: campaign.yaml `accessibility:` (how
strict the checks are, how many emoji) and `protections:` (what a post on a sensitive topic must carry).

Plain immutable values: campaign.py reads them (with campaign_care.py), protections.py applies them to posts and
validate/accessibility.py checks them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProtectionMode = Literal["apply", "require"]
PROTECTION_MODES: tuple[str, ...] = ("apply", "require")
DEFAULT_MAX_EMOJI = 3


@dataclass(frozen=True)
class AccessibilityRule:
    """campaign.yaml `accessibility: {checks: strict, max_emoji: 3}` (or `accessibility: strict`)."""

    strict: bool = False  # alt text that does not describe is an error, not a warning
    max_emoji: int = DEFAULT_MAX_EMOJI  # more emoji than this in one post or reply is a warning


DEFAULT_ACCESSIBILITY = AccessibilityRule()


@dataclass(frozen=True)
class TopicProtection:
    """What a post on `topic` must carry (campaign.yaml `protections: {<topic>: {...}}`).

    A post is on the topic when its `topics:` name it or its text has one of `words` (whole words, any case).
    `apply`: what the post lacks is added to it (and the preview says so); `require`: a post that lacks any of
    it is an error naming what is missing."""

    topic: str
    words: tuple[str, ...] = ()
    mode: ProtectionMode = "apply"
    content_warning: str = ""  # "" = not asked for
    helpline: bool = False
    helpline_line: str = ""  # the topic's own support line (e.g. "Samaritans 116 123"), sent instead of the campaign's
    labels: tuple[str, ...] = ()  # Bluesky self-labels
    reply_rules: tuple[str, ...] | None = None  # Bluesky: who may reply at most (() = nobody); None = not asked
    bluesky_quotes: bool | None = None  # False: quotes off on Bluesky; None = not asked
    mastodon_quotes: bool | None = None  # False: quotes off on Mastodon (its quote policy); None = not asked
    line: int | None = None  # in campaign.yaml

    def asks(self) -> bool:
        return bool(
            self.content_warning
            or self.helpline
            or self.labels
            or self.reply_rules is not None
            or self.bluesky_quotes is False
            or self.mastodon_quotes is False
        )
