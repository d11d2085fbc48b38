"""PUT /locations/{id} — replace a location's fields."""

from shared.http import Request, handler
from shared.models import LocationIn, Location
from shared.services import catalog


@handler("PUT", auth="manager", body=LocationIn, response=Location, path_id=True, raises=(409,))
def main(req: Request):
    """Replace a location."""
    return catalog.replace(catalog.LOCATIONS, req.id, req.data)
