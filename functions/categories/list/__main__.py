"""GET /categories — every category, paged, by name."""

from shared.http import Request, handler
from shared.models import CategoryPage, Query
from shared.services import catalog


@handler("GET", auth="staff", query=Query, response=CategoryPage)
def main(req: Request):
    """List categories."""
    return catalog.page(catalog.CATEGORIES, req.params.page, req.params.per_page)
