"""Chaining: invoke another function asynchronously through the OpenWhisk REST API.

`POST $__OW_API_HOST/api/v1/namespaces/_/actions/<package>/<function>?blocking=false`, authenticated
with `__OW_API_KEY` ("<uuid>:<key>", sent as HTTP Basic). DigitalOcean sets both variables for a
function annotated `provide-api-key: true`; locally the gateway sets them and serves the same API.
The platform answers 202 with an activation id at once and runs the function on its own, so the
caller never waits for the chained work and never fails because of it: a refusal is logged, and
the scheduled run of the chained function picks up what was missed.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from typing import Any

log = logging.getLogger("ims.invoke")

TIMEOUT = 3.0  # seconds; the platform answers an async invoke at once, or something is wrong


def request(host: str, key: str, action: str, params: dict[str, Any], *, blocking: bool = False) -> Any:
    """The invoke API call (a urllib Request) for `action` ("package/function") with `params`;
    blocking, it asks for the result itself (`result=true`)."""
    import urllib.request

    query = "blocking=true&result=true" if blocking else "blocking=false"
    return urllib.request.Request(
        f"{host.rstrip('/')}/api/v1/namespaces/_/actions/{action}?{query}",
        data=json.dumps(params).encode(), method="POST",
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(key.encode()).decode()})


def invoke_async(action: str, params: dict[str, Any]) -> str | None:
    """Start `action` ("package/function") with `params`; return its activation id, or None."""
    import urllib.request

    host, key = os.environ.get("__OW_API_HOST", ""), os.environ.get("__OW_API_KEY", "")
    if not host or not key:
        log.warning("cannot invoke %s: __OW_API_HOST / __OW_API_KEY are not set "
                    "(annotation provide-api-key: true); its scheduled run will catch up", action)
        return None
    try:
        with urllib.request.urlopen(request(host, key, action, params), timeout=TIMEOUT) as response:
            activation = json.loads(response.read() or b"{}").get("activationId")
    except (OSError, ValueError) as exc:  # HTTPError and URLError are OSErrors
        log.warning("invoking %s failed (%s: %s); its scheduled run will catch up",
                    action, exc.__class__.__name__, exc)
        return None
    log.info("invoked %s, activation %s", action, activation)
    return activation if isinstance(activation, str) else None
