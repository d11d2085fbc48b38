"""GET /locations — every location, paged, by name."""

from shared.http import Request, handler
from shared.models import LocationPage, Query
from shared.services import catalog


@handler("GET", auth="staff", query=Query, response=LocationPage)
def main(req: Request):
    """List locations."""
    return catalog.page(catalog.LOCATIONS, req.params.page, req.params.per_page)
