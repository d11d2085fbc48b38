"""GET /dashboard/summary — totals and the latest movements."""

from shared.http import Request, handler
from shared.models import Summary
from shared.services import ledger


@handler("GET", auth="staff", response=Summary)
def main(req: Request):
    """Item count, total quantity and value, low-stock count, the last ten ledger entries."""
    return ledger.summary()
