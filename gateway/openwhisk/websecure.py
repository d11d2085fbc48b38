"""web-secure: a function whose project.yml entry sets `webSecure` answers only requests carrying that
secret in `X-Require-Whisk-Auth`, as the platform checks it before the function runs."""

from __future__ import annotations

import hmac

from gateway.manifest import Function
from shared import errors


def check(function: Function, supplied: str) -> None:
    """Refuse (401) a request to a web-secure function without its secret."""
    secret = function.secret()
    if secret and not hmac.compare_digest(supplied.encode(), secret.encode()):
        raise errors.Unauthorized("This function requires the X-Require-Whisk-Auth header (webSecure).")
