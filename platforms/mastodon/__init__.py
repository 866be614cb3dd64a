"""The Mastodon adapter: statuses exactly once, images with alt text, threads, the instance's own limits,
hashtag mentions across instances and engagement of our own statuses, over Mastodon.py.

Modules: instance (limits, versions, status ids), text (status HTML as plain text), entities (reading
Mastodon.py's answers), errors (its errors in the dispatcher's vocabulary), connection (clients, limits and
our account), media and publish (the write side, exactly once), read (mentions and engagement), adapter (the
class the scheduler builds), public (MastodonReader: other instances' public timelines, without an account).
"""

from platforms.mastodon.adapter import MastodonAdapter
from platforms.mastodon.instance import InstanceLimits, parse_version, snowflake_at
from platforms.mastodon.public import MastodonReader
from platforms.mastodon.read import ReadBudget
from platforms.mastodon.text import html_to_plain

__all__ = [
    "InstanceLimits",
    "MastodonAdapter",
    "MastodonReader",
    "ReadBudget",
    "html_to_plain",
    "parse_version",
    "snowflake_at",
]
