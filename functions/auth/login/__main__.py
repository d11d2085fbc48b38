"""POST /auth/login — exchange e-mail and password for an access and a refresh token."""

from shared.http import Request, handler
from shared.models import LoginIn, TokenPair
from shared.services import users


@handler("POST", auth="public", body=LoginIn, response=TokenPair, raises=(401, 403, 429))
def main(req: Request):
    """Log in. Too many attempts for one account from one address (or from one address, or for one
    account from anywhere) are answered 429 with Retry-After."""
    return users.login(req.data, req.client_address)
