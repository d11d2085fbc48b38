"""POST /items — add an item to the inventory."""

from shared.http import Request, Response, handler
from shared.models import Item, ItemCreate
from shared.services import items


@handler("POST", auth="manager", body=ItemCreate, response=Item, status=201, etag=True, raises=(409,))
def main(req: Request):
    """Create an item; a duplicate SKU (case-insensitive) is 409."""
    item = items.create(req.data, req.principal, req.request_id)
    return Response(item, 201, {"Location": f"/api/v1/items/{item['id']}"})
