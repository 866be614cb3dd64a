"""kombu's Redis transport, with the one change that lets a worker outlive its Redis (celery/kombu#582).

When Redis vanishes, Celery's consumer closes the broken connection twice: `Connection.collect()`, then
`Connection.close()`. kombu's `Channel.close()` first reads the reply of the BRPOP in flight; with Redis gone that
read raises a connection error before the channel is marked closed, and `collect()` goes on to detach the transport
from the connection (`transport.client = None`). The second `close()` then tries to give the unacknowledged
messages back, needs a new Redis pool for it, and reads `self.connection.client.hostname`: AttributeError, which is
not a connection error, so Celery ends the worker ("Unrecoverable error"). No setting avoids it: the read of the
pending BRPOP is unconditional, and with ETA tasks there are always unacknowledged messages to give back.

Here the pending BRPOP is dropped when its broker is gone, and a channel whose connection is closed raises a
connection error instead of the AttributeError, which kombu and Celery treat as "the broker is gone" and retry.
The unacknowledged messages stay in Redis's unacked set; Redis gives them back after the visibility timeout, and
the database's leases re-arm their deliveries long before (publish is idempotent)."""

from __future__ import annotations

from queue import Empty
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def close(self) -> None:
        if self._in_poll:
            try:
                self._brpop_read()  # clears _in_poll however it ends
            except Empty:
                pass
            except self.connection_errors:
                pass  # the broker is gone: there is no reply to read
        super().close()

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel


def use_for_redis_urls() -> None:
    """Make redis:// and redis+socket:// URLs use this transport in this process (kombu resolves a URL's scheme
    through TRANSPORT_ALIASES when it first connects)."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
