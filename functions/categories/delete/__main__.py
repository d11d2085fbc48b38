"""DELETE /categories/{id} — remove a category; its items are kept, unassigned."""

from shared.http import Request, Response, handler
from shared.services import catalog


@handler("DELETE", auth="manager", status=204, path_id=True)
def main(req: Request):
    """Delete a category; items that referred to it keep existing without one."""
    catalog.delete(catalog.CATEGORIES, req.id)
    return Response(status=204)
