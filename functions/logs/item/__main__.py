"""GET /logs/item/{id} — one item's history, newest first."""

from shared.http import Request, handler
from shared.models import LogPage, LogQuery
from shared.services import ledger


@handler("GET", auth="staff", query=LogQuery, response=LogPage, path_id=True)
def main(req: Request):
    """An item's ledger entries (kept after the item is deleted)."""
    return ledger.item_history(req.id, req.params)
