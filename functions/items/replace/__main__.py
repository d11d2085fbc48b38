"""PUT /items/{id} — replace every editable field."""

from shared.http import Request, Response, handler
from shared.models import Item, ItemReplace
from shared.services import items


@handler("PUT", auth="manager", body=ItemReplace, response=Item, path_id=True)
def main(req: Request):
    """Replace an item's fields. Honours If-Match: "<version>" (412 when it changed meanwhile)."""
    item = items.replace(req.id, req.data, req.principal, req.header("if-match"), req.request_id)
    return Response(item, headers={"ETag": f'"{item["version"]}"'})
