from tests.support.bluesky_fixtures import *  # noqa: F403
