"""project.yml, the one list of IMS functions, read into typed records; and loading their code.

The manifest and the functions/ tree must agree exactly: a function listed without a folder, or a
folder nobody listed, would be served locally but not deployed (or the reverse), so both fail here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = REPO_ROOT / "project.yml"
DEFAULT_FUNCTIONS_DIR = REPO_ROOT / "functions"

AUTH_LEVELS = ("public", "staff", "manager")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_ROUTE = re.compile(r"^(?P<method>[A-Z]+) (?P<path>/[A-Za-z0-9_\-/{}]*)$")

Main = Callable[..., Any]


class ManifestError(Exception):
    """project.yml and functions/ disagree, or project.yml is malformed."""


@dataclass(frozen=True, slots=True)
class Function:
    package: str
    name: str
    web: bool | str  # "raw" for HTTP functions, False for triggered ones
    method: str | None  # from the ims-route annotation; None when not an HTTP function
    route: str | None  # e.g. "/items/{id}/withdraw", without the /api/v1 base
    auth: str | None  # public | staff | manager
    triggers: list[dict[str, Any]] = field(default_factory=list)
    directory: Path = Path()
    web_secure: str | None = None  # webSecure: the X-Require-Whisk-Auth value, "${VAR}" unexpanded
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def qualified(self) -> str:
        return f"{self.package}/{self.name}"

    @property
    def is_http(self) -> bool:
        return self.web not in (False, None, "false", "no")

    @property
    def routed(self) -> bool:
        """Served at a REST route (and in the OpenAPI document), not only at its function URL."""
        return self.route is not None

    @property
    def source(self) -> Path:
        return self.directory / "__main__.py"

    def secret(self) -> str:
        """The webSecure value the platform would require, "" for none (an unset ${VAR} is empty)."""
        return expand(self.web_secure) if isinstance(self.web_secure, str) else ""


_VAR = re.compile(r"\$\{(\w+)\}")


def expand(value: str) -> str:
    """Substitute ${VAR}s from the environment, as the deployer does from its env / .env file."""
    return _VAR.sub(lambda m: os.environ.get(m[1], ""), value)


def _function(package: str, raw: dict[str, Any], functions_dir: Path) -> Function:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"a function in package {package!r} has no name")
    qualified = f"{package}/{name}"
    web = raw.get("web", False)
    annotations = raw.get("annotations") or {}
    method = route = auth = None
    web_secure = raw.get("webSecure")
    if web_secure is not None and not isinstance(web_secure, str):
        raise ManifestError(f"{qualified}: webSecure must be a secret string such as ${{MAILER_SECRET}}")
    # A web function guarded by webSecure is for machines: it may be served only at its function URL.
    if web not in (False, None, "false", "no") and not (web_secure and "ims-route" not in annotations):
        spec = annotations.get("ims-route")
        match = _ROUTE.match(spec or "")
        if not match or match["method"] not in _METHODS:
            raise ManifestError(f"{qualified}: annotation ims-route must look like 'GET /items/{{id}}', "
                                f"not {spec!r}")
        method, route = match["method"], match["path"].rstrip("/") or "/"
        if route.count("{") > 1 or ("{" in route and "{id}" not in route):
            raise ManifestError(f"{qualified}: a route may have one parameter, named {{id}}: {route}")
        auth = annotations.get("ims-auth")
        if auth not in AUTH_LEVELS:
            raise ManifestError(f"{qualified}: annotation ims-auth must be one of {AUTH_LEVELS}, not {auth!r}")
    return Function(package=package, name=name, web=web, method=method, route=route, auth=auth,
                    triggers=list(raw.get("triggers") or []),
                    directory=functions_dir / package / name, web_secure=web_secure,
                    annotations=dict(annotations))


def load(manifest: Path | None = None, functions_dir: Path | None = None) -> list[Function]:
    """Read project.yml into Functions; fail loudly when it and functions/ disagree."""
    manifest = manifest or DEFAULT_MANIFEST
    functions_dir = functions_dir or DEFAULT_FUNCTIONS_DIR
    doc = yaml.safe_load(manifest.read_text())
    functions: list[Function] = []
    for package in (doc or {}).get("packages") or []:
        for raw in package.get("functions") or []:
            functions.append(_function(package["name"], raw, functions_dir))

    names = [f.qualified for f in functions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ManifestError(f"{manifest} lists these functions twice: {', '.join(duplicates)}")
    routes = [(f.method, f.route) for f in functions if f.routed]
    clashes = sorted({f"{m} {r}" for m, r in routes if routes.count((m, r)) > 1})
    if clashes:
        raise ManifestError(f"{manifest} gives two functions the same route: {', '.join(clashes)}")

    missing = [f.qualified for f in functions if not f.source.is_file()]
    if missing:
        raise ManifestError(f"{manifest} lists functions without a {functions_dir}/<package>/<function>/"
                            f"__main__.py: {', '.join(missing)}")
    on_disk = {f"{p.parent.parent.name}/{p.parent.name}" for p in functions_dir.glob("*/*/__main__.py")}
    unlisted = sorted(on_disk - set(names))
    if unlisted:
        raise ManifestError(f"{functions_dir} has functions that {manifest} does not list: {', '.join(unlisted)}")
    return functions


# --- loading the code -------------------------------------------------------------------------

_loaded: dict[Path, Main] = {}
_loading = threading.Lock()


def module_name(function: Function) -> str:
    """A unique name per function: every file is called __main__.py, so its own name would collide."""
    def clean(part: str) -> str:
        return re.sub(r"\W", "_", part)
    return f"ims_fn__{clean(function.package)}__{clean(function.name)}"


def _import(function: Function) -> ModuleType:
    # The functions import `shared` exactly as they do once deployed, where it sits beside them.
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    name = module_name(function)
    spec = importlib.util.spec_from_file_location(name, function.source)
    if spec is None or spec.loader is None:
        raise ManifestError(f"cannot load {function.source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_main(function: Function) -> Main:
    """Import the function's __main__.py by path (once) and return its `main`."""
    main = _loaded.get(function.source)  # the warm path: no lock once loaded
    if main is not None:
        return main
    with _loading:
        main = _loaded.get(function.source)
        if main is None:
            main = getattr(_import(function), "main", None)
            if not callable(main):
                raise ManifestError(f"{function.source} is expected to define main(args, context=None)")
            _loaded[function.source] = main
        return main


def check_spec(function: Function, main: Main) -> None:
    """The function's own declaration (shared.http.Spec) must agree with its project.yml entry."""
    spec = getattr(main, "spec", None)
    if spec is None or not function.is_http:
        return
    has_id = "{id}" in (function.route or "")
    problems = []
    if spec.method != function.method:
        problems.append(f"method {spec.method} in code, {function.method} in project.yml")
    if spec.auth != function.auth:
        problems.append(f"auth {spec.auth!r} in code, {function.auth!r} in project.yml")
    if spec.path_id != has_id:
        problems.append(f"path_id={spec.path_id} in code, but the route is {function.route}")
    if function.annotations.get("web-custom-options") is not True:
        # shared.http answers CORS preflights; on DigitalOcean the platform would answer them instead.
        problems.append("the annotation web-custom-options: true is missing (it answers OPTIONS itself)")
    if problems:
        raise ManifestError(f"{function.qualified}: " + "; ".join(problems))
