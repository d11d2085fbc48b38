"""ops/relay (scheduled, not web) — publish outbox events that missed Redis, in order, once; and,
riding on its one-minute trigger (a namespace has three), forget sign-in throttle buckets whose window is over."""

import logging

from shared import events
from shared.errors import Unavailable
from shared.services import users


def main(args, context=None):
    result = {}
    for key, job in (("throttle_buckets_forgotten", users.forget_stale_attempts), ("published", events.relay)):
        try:  # each on its own: Redis down must not stop the clean-up, nor the reverse
            result[key] = job()
        except Unavailable as exc:  # Redis or the database is down: logged once per outage, not each minute
            result["error"] = exc.detail
        except Exception as exc:  # a scheduled run reports, it never raises to the platform
            logging.getLogger("ims").exception("relay: %s failed", key)
            result["error"] = exc.__class__.__name__
    return result
