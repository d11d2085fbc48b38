"""PATCH /items/{id} — change some fields; staff may only count (set `quantity`)."""

from shared.http import Request, Response, handler
from shared.models import Item, ItemPatch
from shared.services import items


@handler("PATCH", auth="staff", body=ItemPatch, response=Item, path_id=True)
def main(req: Request):
    """Partial update; a new `quantity` is logged as a count. Honours If-Match."""
    item = items.patch(req.id, req.data, req.principal, req.header("if-match"), req.request_id)
    return Response(item, headers={"ETag": f'"{item["version"]}"'})
