"""GET /items/{id}/label — the item's SKU as a QR code, an SVG to print."""

from shared.http import Request, handler
from shared.services import labels


@handler("GET", auth="staff", path_id=True, response=str, response_media_type="image/svg+xml")
def main(req: Request):
    """A QR code of the item's SKU (with its quiet zone), as SVG scalable to any size (viewBox)."""
    return labels.qr_svg(req.id)
