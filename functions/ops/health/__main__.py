"""GET /health — is the database and Redis reachable?"""

from shared.http import Request, Response, handler
from shared.models import Health
from shared.services import ops


@handler("GET", auth="public", response=Health, raises={503: Health})
def main(req: Request):
    """200 when every dependency answers, else 503 with what is down."""
    ok, checks = ops.health()
    return Response({"status": "ok" if ok else "degraded", "checks": checks}, 200 if ok else 503)
