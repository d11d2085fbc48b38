"""IMS as functions-framework targets, for Knative and Cloud Run (README, "Knative and Cloud Run").

    functions-framework --source gateway/framework.py --target ims             # all of IMS
    functions-framework --source gateway/framework.py --target items_withdraw  # items/withdraw alone

`ims` serves every function at its REST route and function URL, the invoke API (chaining), the
scheduled triggers' ping path (gateway.openwhisk.ping) and the documents. `<package>_<function>` (dashes become
underscores) serves that one function at the root, as at its function URL: POST /42 on the
`items_withdraw` target is the event of POST /api/v1/items/42/withdraw. Both are the gateway's own WSGI
app (gateway.app), called from the Flask request functions-framework hands a target, so routing, the
event builder, the body limit and the errors are the self-hosted front's, not a copy.

Every target is built when functions-framework loads it, before the server starts: a broken
function or manifest stops the start, and no request pays for an import.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

# functions-framework loads this file by path as a module of its own ("framework"), with only this
# folder on sys.path: the repository root must be importable for `gateway` and `shared`.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import click  # noqa: E402  (functions-framework's CLI is a click command)
import werkzeug  # noqa: E402

from gateway import app as http  # noqa: E402
from gateway import manifest  # noqa: E402
from shared import settings  # noqa: E402

ALL = "ims"
_built: dict[str, Any] = {}


def target_name(function: manifest.Function) -> str:
    """The target serving `function` alone: items/withdraw -> items_withdraw."""
    return re.sub(r"\W", "_", f"{function.package}_{function.name}")


def targets() -> dict[str, str]:
    """Every per-function target: name -> "package/function" (project.yml's HTTP functions)."""
    named: dict[str, str] = {}
    for function in manifest.load():
        if not function.is_http:
            continue
        name = target_name(function)
        if name in named or name == ALL:
            raise manifest.ManifestError(f"{function.qualified} and {named.get(name, ALL)} would share the "
                                         f"functions-framework target {name!r}")
        named[name] = function.qualified
    return named


def _own_address() -> str:
    """Where this server listens, for the functions' chaining calls to its invoke API."""
    context = click.get_current_context(silent=True)  # functions-framework's CLI loads this module
    params = context.params if context else {}
    host = params.get("host") or os.environ.get("HOST") or "0.0.0.0"
    port = params.get("port") or os.environ.get("PORT") or 8080
    return http.loopback_url(host, port)


def _serve(app: http.App, name: str) -> Any:
    def target(request: Any) -> werkzeug.Response:
        return werkzeug.Response.from_app(app, request.environ)

    target.__name__ = target.__qualname__ = name
    return target


def _build(name: str) -> Any:
    qualified = None if name == ALL else targets().get(name)
    if name != ALL and qualified is None:
        raise AttributeError(name)
    # The access log and the activations' lines, on stderr where Cloud Run and Knative collect them
    # (functions-framework sets no handler unless LOG_EXECUTION_ID asks it to).
    logging.basicConfig(level=os.environ.get("IMS_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    if qualified is None:
        app = http.make_app(pings=True)  # no scheduler of ours here: a PingSource or Cloud Scheduler fires them
        # Chaining (shared.invoke) calls __OW_API_HOST: this server's own invoke API unless the
        # operator names another (then __OW_API_KEY must be the key that one accepts).
        host = os.environ.get("__OW_API_HOST")
        if host and not os.environ.get("__OW_API_KEY"):
            raise RuntimeError("__OW_API_HOST is set: set __OW_API_KEY too, the key of the invoke API it names")
        app.host_functions(host or _own_address(), os.environ.get("PUBLIC_URL"))
    else:
        app = http.make_app(only=qualified)
    settings.get()  # a missing setting (DATABASE_URL, JWT_SECRET…) stops the start, naming it
    return _serve(app, name)


def __getattr__(name: str) -> Any:
    """functions-framework looks the target up with getattr: build it on first use."""
    if name.startswith("__"):
        raise AttributeError(name)
    if name not in _built:
        _built[name] = _build(name)
    return _built[name]


def __dir__() -> list[str]:
    # functions-framework lists what it found when a target is missing: name them all.
    return sorted([*globals(), ALL, *targets()])
