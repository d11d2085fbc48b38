"""GET /metrics — Prometheus text format."""

from shared import errors
from shared.http import Request, Response, handler
from shared.services import metrics, ops


@handler("GET", auth="public", response=str, response_media_type=("text/plain", "application/openmetrics-text"),
         raises=(401,))
def main(req: Request):
    """Inventory and outbox gauges for Prometheus. With METRICS_TOKEN set, send it as a bearer token."""
    if not ops.metrics_allowed(req.header("authorization")):
        raise errors.Unauthorized("/metrics wants the METRICS_TOKEN as a bearer token.")
    body, content_type = metrics.exposition(req.header("accept"))
    return Response(body, headers={"Content-Type": content_type})
