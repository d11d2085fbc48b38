"""DELETE /items/{id} — remove an item; its ledger stays."""

from shared.http import Request, Response, handler
from shared.services import items


@handler("DELETE", auth="manager", status=204, path_id=True, if_match=True)
def main(req: Request):
    """Delete an item. Honours If-Match."""
    items.delete(req.id, req.principal, req.header("if-match"), req.request_id)
    return Response(status=204)
