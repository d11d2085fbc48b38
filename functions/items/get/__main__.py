"""GET /items/{id} — one item, with its version as ETag."""

from shared.http import Request, handler
from shared.models import Item
from shared.services import items


@handler("GET", auth="staff", response=Item, path_id=True, etag=True)
def main(req: Request):
    """Get an item. The ETag is its version, for If-Match on PUT/PATCH."""
    return items.get(req.id)
