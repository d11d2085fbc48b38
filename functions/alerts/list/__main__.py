"""GET /alerts — low-stock alerts, newest first."""

from shared.http import Request, handler
from shared.models import AlertPage, AlertQuery
from shared.services import ledger


@handler("GET", auth="manager", query=AlertQuery, response=AlertPage)
def main(req: Request):
    """List alerts; `acknowledged=false` for the ones nobody has seen to, `mail_status=failed` for
    the ones whose e-mail could not be sent."""
    return ledger.alerts(req.params)
