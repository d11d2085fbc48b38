"""`python -m realtime`: serve the live feed until SIGTERM or SIGINT.

Needs DATABASE_URL, REDIS_URL and JWT_SECRET like the functions (README, "Configuration"), plus the
IMS_WS_* settings of realtime.config. Once listening it prints its URL on stdout, one line, so a
parent process (`make run`, the bench, the tests) knows where it is, then logs on stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import prometheus_client

from localenv import process


async def serve() -> None:
    from realtime import config
    from realtime.server import RealtimeServer
    from shared import db, settings

    server = RealtimeServer(config.load(), settings.get().redis_url)
    await server.start()
    log = logging.getLogger("ims.realtime")
    log.info("live feed at %s (healthz and metrics on the same port)", server.url)
    print(server.url, flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("shutting down: closing %s connection(s)", len(server.hub.clients))
    await server.stop()
    await loop.run_in_executor(None, db.close_pool)
    log.info("stopped")


def main() -> int:
    process.raise_fd_limit()
    # No `<counter>_created` series beside each counter: in the text format they are just more gauges
    # (the gateway's multiprocess metrics have none either). Process-wide, so set here, not on import.
    prometheus_client.disable_created_metrics()
    logging.basicConfig(level=os.environ.get("IMS_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("websockets").setLevel(logging.WARNING)  # one line per connection otherwise
    from shared.settings import ConfigError

    try:
        asyncio.run(serve())
    except ConfigError as exc:
        print(f"realtime: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
