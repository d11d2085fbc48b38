"""GET /metrics — Prometheus text format."""

from shared.http import Request, Response, handler
from shared.services import ops


@handler("GET", auth="public")
def main(req: Request):
    """Inventory and outbox gauges for Prometheus."""
    return Response(ops.metrics(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
