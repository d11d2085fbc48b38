"""Which function answers a request path, and what `__ow_path` it sees.

Two addresses per web function, as on DigitalOcean plus our REST front:
  /api/v1/items/42/withdraw                      -> items/withdraw, __ow_path "/42"
  /api/v1/web/<namespace>/items/withdraw/42      -> items/withdraw, __ow_path "/42"
The table is compiled once; a request costs a dict lookup, and a few regexes only for routes with
an `{id}`.
"""

from __future__ import annotations

import re

from gateway.manifest import Function
from shared import errors

BASE = "/api/v1"
WEB = BASE + "/web/"


def _pattern(route: str) -> re.Pattern[str]:
    before, _, after = route.partition("{id}")
    return re.compile(f"^{re.escape(before)}(?P<id>[^/]+){re.escape(after)}$")


class Router:
    def __init__(self, functions: list[Function], namespace: str) -> None:
        self.namespace = namespace
        self._static: dict[str, dict[str, Function]] = {}
        dynamic: dict[str, dict[str, Function]] = {}
        self._by_name: dict[tuple[str, str], Function] = {}
        for f in functions:
            if not f.is_http:
                continue
            self._by_name[(f.package, f.name)] = f
            if f.route is None or f.method is None:
                continue  # served only at its function URL
            table = dynamic if "{id}" in f.route else self._static
            table.setdefault(f.route, {})[f.method] = f
        self._dynamic = [(_pattern(route), methods) for route, methods in dynamic.items()]

    def match(self, method: str, path: str, requested: str | None = None) -> tuple[Function, str]:
        """(function, __ow_path) for a request; raises NotFound / MethodNotAllowed.

        A CORS preflight (OPTIONS naming the method it asks for in `requested`) goes to the function
        serving that method, which answers it, as each function answers at its own URL on the platform."""
        if path.startswith(WEB):
            return self._function_url(path[len(WEB):])
        if not path.startswith(BASE + "/"):
            raise errors.NotFound(f"No route for {path}.")
        route = path[len(BASE):]
        # Clients often add a trailing slash; the platform's API gateway tolerates it too.
        if len(route) > 1 and route.endswith("/"):
            route = route[:-1]
        suffix = ""
        methods = self._static.get(route)
        if methods is None:
            for pattern, candidates in self._dynamic:
                found = pattern.match(route)
                if found:
                    methods, suffix = candidates, "/" + found["id"]
                    break
        if methods is None:
            raise errors.NotFound(f"No route for {path}.")
        function = methods.get(method)
        if function is None and method == "OPTIONS" and requested:
            function = methods.get(requested.upper()) or methods[min(methods)]
        if function is None:
            allow = ", ".join(sorted(methods))
            raise errors.MethodNotAllowed(f"Use {allow}.", headers={"Allow": allow})
        return function, suffix

    def _function_url(self, rest: str) -> tuple[Function, str]:
        # <namespace>/<package>/<function>[/anything]; the method is the function's to judge.
        parts = rest.split("/", 3)
        if len(parts) < 3 or parts[0] != self.namespace:
            raise errors.NotFound("No such function.")
        function = self._by_name.get((parts[1], parts[2]))
        if function is None:
            raise errors.NotFound("No such function.")
        return function, "/" + parts[3] if len(parts) == 4 else ""
