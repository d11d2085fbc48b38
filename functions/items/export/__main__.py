"""GET /items/export — the inventory as CSV, a page at a time."""

from shared.http import Request, Response, handler, next_link
from shared.models import ItemExportQuery
from shared.services import csvio


@handler("GET", auth="staff", query=ItemExportQuery, response=str, response_media_type="text/csv",
         response_headers=("Link",))
def main(req: Request):
    """Export the items a filter of GET /items selects, in its order, as CSV.

    RFC 4180, UTF-8, every page starting with the header line
    `sku,name,description,category,location,quantity,unit,price,low_stock_threshold` (category and
    location by name, price as a decimal string; an empty cell where there is none). A page stays under
    900 000 bytes; while rows remain it carries `Link: <?…&cursor=…>; rel="next"`, the next page's
    address relative to this one's."""
    text, cursor = csvio.export(req.params)
    return Response(text, headers={"Link": next_link(req.raw_query, cursor=cursor)} if cursor else {})
