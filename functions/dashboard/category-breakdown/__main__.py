"""GET /dashboard/category-breakdown — items and quantity per category."""

from shared.http import Request, handler
from shared.models import CategoryBreakdown
from shared.services import ledger


@handler("GET", auth="staff", response=list[CategoryBreakdown])
def main(req: Request):
    """Per category (and 'Uncategorized'): item count and total quantity."""
    return ledger.category_breakdown()
