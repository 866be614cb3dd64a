"""A small stateful Mastodon-compatible server for tests (see TESTING.md, "Mastodon").

from tests.mastodon_server import MastodonServerProcess, MastodonTestServer, ServerConfig

with MastodonServerProcess({"max_characters": 500}) as control:   # its own process
    alice = control.create_account("alice")
    client = alice.client()                                        # Mastodon.py, ratelimit 'throw'
    client.status_post("Hello #ItsNotOK", spoiler_text="Child sexual abuse")

with MastodonTestServer(ServerConfig()) as server:                # a thread of this process
    control = MastodonControl(server.base_url)
"""

from .config import ServerConfig, Throttle
from .control import ControlError, MastodonControl, TestAccount
from .process import MastodonServerProcess
from .server import MastodonTestServer

__all__ = [
    "ControlError",
    "MastodonControl",
    "MastodonServerProcess",
    "MastodonTestServer",
    "ServerConfig",
    "TestAccount",
    "Throttle",
]
