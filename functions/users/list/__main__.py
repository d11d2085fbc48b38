"""GET /users — every account, paged."""

from shared.http import Request, handler
from shared.models import Query, UserPage
from shared.services import users


@handler("GET", auth="manager", query=Query, response=UserPage)
def main(req: Request):
    """List users (managers only)."""
    return users.page(req.params.page, req.params.per_page)
