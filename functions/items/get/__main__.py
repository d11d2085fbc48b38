"""GET /items/{id} — one item, with its version as ETag."""

from shared.http import Request, Response, handler
from shared.models import Item
from shared.services import items


@handler("GET", auth="staff", response=Item, path_id=True)
def main(req: Request):
    """Get an item. The ETag is its version, for If-Match on PUT/PATCH."""
    item = items.get(req.id)
    return Response(item, headers={"ETag": f'"{item["version"]}"'})
