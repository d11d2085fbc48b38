"""GET /dashboard/movements — stock in and out per day, for the dashboard's chart."""

from shared.http import Request, handler
from shared.models import MovementQuery, Movements
from shared.services import ledger


@handler("GET", auth="staff", query=MovementQuery, response=Movements)
def main(req: Request):
    """Per UTC day, the `days` days ending today, oldest first: stock in, stock out, movements.

    Staff may read it: the ledger itself is for managers, this aggregate is not."""
    return ledger.movements(req.params.days)
