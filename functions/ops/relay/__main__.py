"""ops/relay (scheduled, not web) — publish outbox events that missed Redis, in order, once."""

import logging

from shared import events
from shared.errors import Unavailable


def main(args, context=None):
    try:
        return {"published": events.relay()}
    except Unavailable as exc:  # Redis or the database is down: logged once per outage, not each minute
        return {"error": exc.detail}
    except Exception as exc:  # a scheduled run reports, it never raises to the platform
        logging.getLogger("ims").exception("relay failed")
        return {"error": exc.__class__.__name__}
