"""POST /auth/refresh — rotate a refresh token into a new token pair."""

from shared.http import Request, handler
from shared.models import RefreshIn, TokenPair
from shared.services import users


@handler("POST", auth="public", body=RefreshIn, response=TokenPair, raises=(401,))
def main(req: Request):
    """Spend a refresh token for a new pair; reusing a spent one revokes the whole session."""
    return users.refresh(req.data.refresh_token)
