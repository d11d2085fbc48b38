"""GET /logs — the stock ledger, newest first."""

from shared.http import Request, handler
from shared.models import LogPage, LogQuery
from shared.services import ledger


@handler("GET", auth="manager", query=LogQuery, response=LogPage)
def main(req: Request):
    """The ledger; filter by item_id, user_id, action, since, until."""
    return ledger.logs(req.params)
