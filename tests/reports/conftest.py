from tests.support.bluesky_fixtures import *  # noqa: F403
from tests.support.mastodon_fixtures import *  # noqa: F403
