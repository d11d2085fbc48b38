"""GET /health — is the database and Redis reachable?"""

from shared.errors import Unavailable
from shared.http import Request, Response, handler
from shared.models import Health
from shared.services import ops


@handler("GET", auth="public", response=Health, raises={503: Health})
def main(req: Request):
    """200 when every dependency answers, else 503 (with `Retry-After`) and what is down."""
    ok, checks = ops.health()
    body = {"status": "ok" if ok else "degraded", "checks": checks}
    return Response(body) if ok else Response(body, 503, {"Retry-After": str(Unavailable.retry_after)})
