"""The Mastodon test server's fixtures; the lead may register tests.support.mastodon_fixtures at the root."""

from tests.support.mastodon_fixtures import *  # noqa: F403
