"""POST /items/import — create and update items from CSV, idempotent by SKU."""

from shared.http import Request, handler
from shared.models import ImportReport, ItemImportQuery
from shared.services import csvio


@handler("POST", auth="manager", query=ItemImportQuery, body=str, body_media_type="text/csv",
         response=ImportReport)
def main(req: Request):
    """Import items from CSV: a new SKU creates an item, a known one (in any case) is updated where its row differs.

    The body (UTF-8, a byte order mark allowed, at most 1 MB) starts with a header line naming columns of
    the export (`sku` and `name` required, any order; an unknown column is a 422). A column left out
    leaves that field as it is (the default for a new item); an empty cell clears description, price,
    category and location (and gives quantity, unit and threshold no value). A different quantity is
    recorded as a count. Unknown categories and locations are created. Each row is written on its own;
    a row that fails is reported with its errors and its line (`first_row` is the file's line of the
    body's first data row) and the others go on. `dry_run=true` reports what would happen and writes
    nothing. An answer that would pass the platform's 1 MB result limit is refused with 413 before
    anything is written: send fewer rows at a time."""
    params = req.params
    return csvio.import_items(req.data, req.principal, params.dry_run, params.first_row, req.request_id)
