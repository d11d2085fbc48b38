"""GET /items — search, filter, sort and page the inventory."""

from shared.http import Request, handler
from shared.models import ItemPage, ItemQuery
from shared.services import items


@handler("GET", auth="staff", query=ItemQuery, response=ItemPage)
def main(req: Request):
    """List items; `search` matches a case-insensitive substring of the name or SKU."""
    return items.search(req.params)
