"""Printable item labels: the SKU as a QR code, an SVG drawn by segno.

Only the items/label function imports this module, and only it carries segno (its `ims-requirements`
annotation in project.yml): segno takes about 30 ms to import, which no other cold start should pay.
"""

from __future__ import annotations

import io

import segno

from shared import db, errors

_SKU = "SELECT sku FROM items WHERE id = :id"


def qr_svg(item_id: int) -> str:
    """The item's SKU as a QR code (not a Micro QR, which few scanners read), error correction at
    least M (segno raises it while the size allows), the standard quiet zone of 4 modules, and a
    viewBox without width or height so it scales to whatever box the page gives it."""
    row = db.one(_SKU, id=item_id)
    if row is None:
        raise errors.NotFound(f"Item {item_id} does not exist.")
    out = io.BytesIO()
    segno.make_qr(row["sku"], error="m").save(out, kind="svg", border=4, omitsize=True, title=row["sku"],
                                               svgclass=None, lineclass=None)
    return out.getvalue().decode()
