"""GET /system/status — each dependency, the outbox backlog, the live feed, the last backup, alerts."""

from shared.http import Request, handler
from shared.models import SystemStatus
from shared.services import ops


@handler("GET", auth="manager", response=SystemStatus)
def main(req: Request):
    """The system page's figures: 200 while the caller can be authenticated, whatever is down.

    A dependency that does not answer shows `ok: false`, the status `degraded`, and the sections read
    from it null. Authenticating needs the database, so without it the answer is a 503 as for any route."""
    return ops.status()
