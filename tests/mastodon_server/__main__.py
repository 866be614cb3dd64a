"""python -m tests.mastodon_server [--port N] [--config JSON]

Prints one JSON line {"base_url": ..., "pid": ...} on stdout once it listens, then serves until SIGTERM or
SIGINT (or, with --exit-on-stdin-eof, until its parent closes stdin).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from .config import ServerConfig
from .server import MastodonTestServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mastodon_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--config", default="{}", help="JSON object of ServerConfig fields")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args(argv)

    server = MastodonTestServer(ServerConfig.from_json(json.loads(args.config)), host=args.host, port=args.port)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.exit_on_stdin_eof:

        def watch_parent() -> None:
            # raw reads: a daemon thread blocked in the buffered stdin would delay interpreter exit by 1 s
            while os.read(sys.stdin.fileno(), 4096):
                pass
            stop.set()

        threading.Thread(target=watch_parent, daemon=True).start()
    sys.stdout.write(json.dumps({"base_url": server.base_url, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    while not stop.wait(0.1):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
