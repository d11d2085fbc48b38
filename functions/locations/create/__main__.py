"""POST /locations — add a location; names are unique (case-insensitive)."""

from shared.http import Request, handler
from shared.models import LocationIn, Location
from shared.services import catalog


@handler("POST", auth="manager", body=LocationIn, response=Location, status=201, raises=(409,))
def main(req: Request):
    """Create a location; a taken name is 409."""
    return catalog.create(catalog.LOCATIONS, req.data)
